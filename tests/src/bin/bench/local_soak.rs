//! `bench local-soak`: photos through `./dev up` (which `./dev bench local-soak` starts on a
//! state folder of its own), as a seller's client sends them, waiting for each to be ready;
//! after every step of photos, the resident memory of every process `./dev up` runs (moto,
//! each part, Prometheus) and the disk its state folder takes. It ends with each process's
//! peak and its growth per 1,000 photos after the first step (caches warm by then), which
//! should be flat: what a catalog holds is on disk, not in memory.
//!
//! The photos are 800x600 JPEGs of noise (their size is printed): bytes that a stand-in keeping
//! objects in memory shows, and few enough pixels to send thousands in an hour.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use futures_util::StreamExt;
use reqwest::{Client, StatusCode};
use secrecy::SecretString;

use crate::e2e::{self, Target};

/// Different files, so that no two photos in a row are the same bytes.
const FILES: u32 = 8;

/// One sample: photos sent so far, each process's resident memory and the state's disk.
struct Sample {
    photos: usize,
    resident: Vec<(String, u64)>,
    disk: u64,
}

pub async fn run(
    photos: usize,
    step: usize,
    concurrency: usize,
    run_dir: &Path,
    state_dir: &Path,
    target: Target,
) -> anyhow::Result<()> {
    let files: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..FILES)
            .map(|i| catalog_tests::noise_jpeg(800 + i, 600 + i))
            .collect(),
    );
    let token = catalog_http::auth::issue(
        Some(&SecretString::from(target.jwt_secret.clone())),
        "bench-local-soak",
        SystemTime::now() + Duration::from_secs(24 * 3600),
    )?;
    let client = Client::builder().timeout(Duration::from_secs(60)).build()?;
    let target = Arc::new(target);
    println!(
        "local soak: {photos} photos of ~{:.2} MB at concurrency {concurrency}, a sample every {step}",
        files[0].len() as f64 / 1e6
    );
    let mut samples = vec![sample(0, run_dir, state_dir)?];
    print_header(&samples[0]);
    print_row(&samples[0]);
    let (started, mut sent, mut failed) = (Instant::now(), 0, 0);
    while sent < photos {
        let batch = step.min(photos - sent);
        let outcomes: Vec<anyhow::Result<()>> = futures_util::stream::iter(sent..sent + batch)
            .map(|index| {
                let (client, target, token, files) = (&client, &target, &token, Arc::clone(&files));
                async move {
                    let bytes = &files[index % files.len()];
                    let id = e2e::upload(client, target, token, "soak.jpg", bytes, index).await?;
                    ready(client, target, token, &id).await
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        for error in outcomes.into_iter().filter_map(Result::err) {
            failed += 1;
            eprintln!("a photo did not become ready: {error:#}");
        }
        sent += batch;
        samples.push(sample(sent, run_dir, state_dir)?);
        print_row(samples.last().context("a sample")?);
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "{} of {photos} ready ({failed} not) in {wall:.0} s: {:.0} photos/hour",
        photos - failed,
        photos as f64 / wall * 3600.0
    );
    summarize(&samples, run_dir);
    Ok(())
}

/// Polls the photo until it is ready (an error if it fails or takes over 5 minutes).
async fn ready(client: &Client, target: &Target, token: &str, id: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let photo = client
            .get(format!("{}/v1/photos/{id}", target.read_url))
            .bearer_auth(token)
            .send()
            .await?;
        if photo.status() == StatusCode::OK {
            let photo: serde_json::Value = photo.json().await?;
            match photo["status"].as_str() {
                Some("ready") => return Ok(()),
                Some("failed") => anyhow::bail!("{id} failed: {}", photo["failure_reason"]),
                _ => {}
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "{id} not ready in 5 minutes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The processes `./dev up` noted in `run_dir` (`NAME.pid`, supervisors left out), by name.
fn processes(run_dir: &Path) -> anyhow::Result<Vec<(String, u32)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(run_dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let Some(part) = name.strip_suffix(".pid") else {
            continue;
        };
        if part.ends_with(".supervisor") {
            continue;
        }
        if let Ok(pid) = std::fs::read_to_string(&path)?.trim().parse() {
            found.push((part.to_owned(), pid));
        }
    }
    found.sort();
    Ok(found)
}

fn sample(photos: usize, run_dir: &Path, state_dir: &Path) -> anyhow::Result<Sample> {
    let resident = processes(run_dir)?
        .into_iter()
        .map(|(name, pid)| {
            let bytes = catalog_tests::hostile::resident_memory(pid).unwrap_or(0);
            (name, bytes)
        })
        .collect();
    Ok(Sample {
        photos,
        resident,
        disk: disk_usage(state_dir.to_path_buf()),
    })
}

/// Bytes of every file under `folder`.
fn disk_usage(folder: PathBuf) -> u64 {
    let mut total = 0;
    let mut folders = vec![folder];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => folders.push(entry.path()),
                Ok(meta) => total += meta.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn print_header(sample: &Sample) {
    print!("{:>8}", "photos");
    for (name, _) in &sample.resident {
        print!(" {name:>15}");
    }
    println!(" {:>15}", "state on disk");
    print!("{:>8}", "");
    for _ in &sample.resident {
        print!(" {:>15}", "RSS MiB");
    }
    println!(" {:>15}", "MiB");
}

fn print_row(sample: &Sample) {
    print!("{:>8}", sample.photos);
    for (_, bytes) in &sample.resident {
        print!(" {:>15.1}", mib(*bytes));
    }
    println!(" {:>15.1}", mib(sample.disk));
}

/// Each process's peak (`VmHWM`), and growth per 1,000 photos from the first step's sample to
/// the last.
fn summarize(samples: &[Sample], run_dir: &Path) {
    let (Some(first), Some(last)) = (samples.get(1), samples.last()) else {
        return;
    };
    let thousands = (last.photos - first.photos) as f64 / 1000.0;
    println!("process          peak RSS MiB   growth per 1,000 photos (MiB)");
    for (name, pid) in processes(run_dir).unwrap_or_default() {
        let peak = catalog_tests::hostile::peak_memory(pid).unwrap_or(0);
        let at = |sample: &Sample| {
            sample
                .resident
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(0.0, |(_, bytes)| mib(*bytes))
        };
        let growth = if thousands > 0.0 {
            format!("{:+.1}", (at(last) - at(first)) / thousands)
        } else {
            "-".into()
        };
        println!("{name:<16} {:>12.1}   {growth}", mib(peak));
    }
    if thousands > 0.0 {
        println!(
            "state on disk    {:>12.1}   {:+.1}",
            mib(last.disk),
            (mib(last.disk) - mib(first.disk)) / thousands
        );
    }
}
