//! `bench e2e DIR`: real photos through the running local stack (`./dev up`, which
//! `./dev bench e2e` starts), as a seller's client sends them: declare, PUT the file to the
//! presigned URL, upload-complete; then the time until the read API shows the photo ready, and
//! until it shows the AVIF variants the processor makes after (an opaque photo's).
//!
//! Every photo's `formats` are checked against the rule of the API (each lighter than its
//! variant); a photo that breaks it counts as one that did not become ready.
//! It prints p50/p95 from upload-complete to ready and to AVIF, photos per hour (each client
//! waits for a photo's AVIF before it sends the next), the CPU-seconds per photo
//! of the `catalog` processes (Postgres and moto excluded, read from `/proc`) and the image
//! processor's peak memory, next to the targets the service was planned with. It never passes
//! or fails on them. With `--expect-failed` (`./dev bench hostile`), the photos are files the
//! processor must refuse: it times each until `failed` and prints the reason.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use catalog_tests::sha256_hex;
use reqwest::{Client, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// Where the stack is.
pub struct Target {
    pub write_url: String,
    pub read_url: String,
    pub jwt_secret: String,
}

/// Where the running stack is, as `./dev up` says it (its environment).
#[derive(clap::Args)]
pub struct Stack {
    #[arg(long, env = "CATALOG_WRITE_ADDR", default_value = "127.0.0.1:8080")]
    write_addr: String,
    #[arg(long, env = "CATALOG_READ_ADDR", default_value = "127.0.0.1:8081")]
    read_addr: String,
    #[arg(long, env = "CATALOG_JWT_SECRET", hide_env_values = true)]
    jwt_secret: String,
}

impl From<Stack> for Target {
    fn from(stack: Stack) -> Self {
        Self {
            write_url: format!("http://{}", stack.write_addr),
            read_url: format!("http://{}", stack.read_addr),
            jwt_secret: stack.jwt_secret,
        }
    }
}

/// How often a photo's status is asked for.
const POLL: Duration = Duration::from_millis(10);
/// Fargate's price per vCPU-hour (us-east-1, x86), for the cost estimate.
const VCPU_HOUR_USD: f64 = 0.04048;

pub async fn run(
    folder: &Path,
    photos: usize,
    concurrency: usize,
    expect_failed: bool,
    target: Target,
) -> anyhow::Result<()> {
    let files = photos_in(folder)?;
    anyhow::ensure!(
        !files.is_empty(),
        "no .jpg, .png or .webp in {}",
        folder.display()
    );
    let files: Arc<Vec<(String, Vec<u8>)>> = Arc::new(
        files
            .iter()
            .map(|path| Ok((name(path), std::fs::read(path)?)))
            .collect::<anyhow::Result<_>>()?,
    );
    let secret = SecretString::from(target.jwt_secret.clone());
    let token = catalog_http::auth::issue(
        Some(&secret),
        "bench-e2e",
        SystemTime::now() + Duration::from_secs(3600),
    )?;
    let client = Arc::new(Client::builder().timeout(Duration::from_secs(60)).build()?);
    let target = Arc::new(target);
    println!(
        "end to end: {photos} photos at concurrency {concurrency} from {} files in {}",
        files.len(),
        folder.display()
    );
    let cpu_before = cpu_seconds_of("catalog")?;
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let mut jobs = Vec::with_capacity(photos);
    for index in 0..photos {
        let slot = Arc::clone(&slots).acquire_owned().await?;
        let (client, target, token, files) = (
            Arc::clone(&client),
            Arc::clone(&target),
            token.clone(),
            Arc::clone(&files),
        );
        jobs.push(tokio::spawn(async move {
            let (name, bytes) = &files[index % files.len()];
            let outcome = one(&client, &target, &token, name, bytes, index, expect_failed).await;
            drop(slot);
            outcome
        }));
    }
    let (mut latencies, mut avif) = (Vec::with_capacity(photos), Vec::with_capacity(photos));
    let mut failed = 0;
    for job in jobs {
        match job.await? {
            Ok((latency, with_avif)) => {
                latencies.push(latency);
                avif.extend(with_avif);
            }
            Err(error) => {
                failed += 1;
                eprintln!("a photo did not become ready: {error:#}");
            }
        }
    }
    let wall = started.elapsed();
    let cpu = cpu_seconds_of("catalog")? - cpu_before;
    latencies.sort_unstable();
    avif.sort_unstable();
    anyhow::ensure!(!latencies.is_empty(), "no photo became ready");
    let quantile = |of: &[Duration], quantile: f64| {
        of[((of.len() - 1) as f64 * quantile) as usize].as_secs_f64()
    };
    let at = |q: f64| quantile(&latencies, q);
    let per_hour = latencies.len() as f64 / wall.as_secs_f64() * 3600.0;
    let cpu_per_photo = cpu / latencies.len() as f64;
    let usd_per_10k = cpu_per_photo * 10_000.0 / 3600.0 * VCPU_HOUR_USD;
    let outcome = if expect_failed { "failed" } else { "ready" };
    println!(
        "{outcome} {} of {photos} ({failed} not) in {:.1} s",
        latencies.len(),
        wall.as_secs_f64()
    );
    println!(
        "upload-complete to {outcome}: p50 {:.3} s, p95 {:.3} s, max {:.3} s   (target: under 5 s)",
        at(0.50),
        at(0.95),
        at(1.0)
    );
    if !avif.is_empty() {
        println!(
            "upload-complete to its AVIF shown ({} photos): p50 {:.3} s, p95 {:.3} s, max {:.3} s",
            avif.len(),
            quantile(&avif, 0.50),
            quantile(&avif, 0.95),
            quantile(&avif, 1.0)
        );
    }
    println!("throughput: {per_hour:.0} photos/hour   (target: over 1,000)");
    println!(
        "CPU of the catalog processes: {cpu_per_photo:.3} s a photo; at Fargate's ${VCPU_HOUR_USD}/vCPU-hour \
         that is ${usd_per_10k:.3} per 10,000 photos   (target: about $0.50 per 10,000, serverless)"
    );
    if let Some(peak) = catalog_tests::hostile::pid_of("process-images")
        .and_then(|pid| catalog_tests::hostile::peak_memory(pid).ok())
    {
        println!(
            "peak memory of the image processor since it started: {:.1} MiB",
            peak as f64 / 1_048_576.0
        );
    }
    Ok(())
}

/// Writes the hostile files of `./dev bench hostile` into `folder`: a progressive JPEG of
/// thousands of scans and a PNG whose colour profile inflates to 50 MB.
pub fn hostile_files(folder: &Path) -> anyhow::Result<()> {
    use catalog_images::hostile;
    std::fs::create_dir_all(folder)?;
    let image = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x * 255 / 640) as u8, (y * 255 / 480) as u8, 90])
    });
    std::fs::write(
        folder.join("thousands-of-scans.jpg"),
        hostile::jpeg_with_scans(&image, 3000),
    )?;
    std::fs::write(
        folder.join("profile-inflating-to-50mb.png"),
        hostile::png_with_profile(50 << 20),
    )?;
    Ok(())
}

/// Sends one photo as a seller's client does: declare it (for product `bench-<index % 50>`),
/// PUT the file to its presigned URL, upload-complete; returns its id.
pub async fn upload(
    client: &Client,
    target: &Target,
    token: &str,
    name: &str,
    bytes: &[u8],
    index: usize,
) -> anyhow::Result<String> {
    let content_type = match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        _ => "image/jpeg",
    };
    let created = expect(
        client
            .post(format!("{}/v1/photos", target.write_url))
            .bearer_auth(token)
            .json(&json!({
                "product_id": format!("bench-{}", index % 50),
                "filename": name,
                "content_type": content_type,
                "size_bytes": bytes.len(),
                "checksum_sha256": sha256_hex(bytes),
            }))
            .send()
            .await?,
        StatusCode::CREATED,
    )
    .await?;
    let id = created["photo_id"]
        .as_str()
        .context("no photo_id")?
        .to_owned();
    let mut put = client.put(created["upload"]["url"].as_str().context("no upload url")?);
    for (header, value) in created["upload"]["headers"]
        .as_object()
        .context("no headers")?
    {
        put = put.header(header, value.as_str().unwrap_or_default());
    }
    let stored = put.body(bytes.to_vec()).send().await?;
    anyhow::ensure!(
        stored.status().is_success(),
        "PUT answered {}",
        stored.status()
    );
    expect(
        client
            .post(format!(
                "{}/v1/photos/{id}/upload-complete",
                target.write_url
            ))
            .bearer_auth(token)
            .send()
            .await?,
        StatusCode::ACCEPTED,
    )
    .await?;
    Ok(id)
}

/// One photo: sent, then the time from upload-complete until it is ready, and until its AVIF
/// variants are shown (for an opaque photo).
async fn one(
    client: &Client,
    target: &Target,
    token: &str,
    name: &str,
    bytes: &[u8],
    index: usize,
    expect_failed: bool,
) -> anyhow::Result<(Duration, Option<Duration>)> {
    let id = upload(client, target, token, name, bytes, index).await?;
    let completed = Instant::now();
    let mut ready = None;
    loop {
        let photo = client
            .get(format!("{}/v1/photos/{id}", target.read_url))
            .bearer_auth(token)
            .send()
            .await?;
        if photo.status() == StatusCode::OK {
            let photo: Value = photo.json().await?;
            let large = &photo["variants"]["large"];
            match photo["status"].as_str() {
                // A transparent photo (PNG variants) gets no AVIF.
                Some("ready") if !expect_failed && large["content_type"] == "image/png" => {
                    lighter_formats(&photo, name)?;
                    return Ok((completed.elapsed(), None));
                }
                // The AVIF of every variant where it is lighter comes in one event.
                Some("ready") if !expect_failed && has_avif(&photo) => {
                    let ready = ready.unwrap_or_else(|| completed.elapsed());
                    lighter_formats(&photo, name)?;
                    return Ok((ready, Some(completed.elapsed())));
                }
                // No variant's AVIF was lighter than its JPEG (no event tells that): a photo
                // ready this long without them gets none.
                Some("ready") if !expect_failed => {
                    let at = *ready.get_or_insert_with(|| completed.elapsed());
                    if completed.elapsed() > at + NO_AVIF_AFTER {
                        lighter_formats(&photo, name)?;
                        return Ok((at, None));
                    }
                }
                Some("failed") if expect_failed => {
                    println!(
                        "{name}: failed after {:.2} s: {}",
                        completed.elapsed().as_secs_f64(),
                        photo["failure_reason"]
                    );
                    return Ok((completed.elapsed(), None));
                }
                Some(status @ ("ready" | "failed")) => {
                    anyhow::bail!("{id} ({name}) is {status}: {}", photo["failure_reason"])
                }
                _ => {}
            }
        }
        anyhow::ensure!(
            completed.elapsed() < Duration::from_secs(120),
            "{id} not ready in 120 s"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// How long after `ready` a photo without AVIF is taken to get none.
const NO_AVIF_AFTER: Duration = Duration::from_secs(30);

/// Every format a variant of the photo lists is lighter than the variant's own file, as the
/// API promises.
fn lighter_formats(photo: &Value, name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        catalog_tests::formats_are_lighter(photo),
        "{name}: a format is not lighter than its variant: {}",
        photo["variants"]
    );
    Ok(())
}

/// Whether any variant of a read photo lists its AVIF.
fn has_avif(photo: &Value) -> bool {
    photo["variants"].as_object().is_some_and(|variants| {
        variants
            .values()
            .any(|v| v["formats"]["image/avif"].is_object())
    })
}

pub async fn expect(response: reqwest::Response, status: StatusCode) -> anyhow::Result<Value> {
    let got = response.status();
    let body = response.text().await?;
    anyhow::ensure!(got == status, "expected {status}, got {got}: {body}");
    Ok(serde_json::from_str(&body)?)
}

fn photos_in(folder: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| folder.display().to_string())?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                matches!(
                    e.to_ascii_lowercase().as_str(),
                    "jpg" | "jpeg" | "png" | "webp"
                )
            })
        })
        .collect();
    files.sort();
    Ok(files)
}

fn name(path: &Path) -> String {
    path.file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("photo.jpg")
        .to_owned()
}

/// User and system CPU-seconds used so far by the processes whose command is `command`.
/// CPU-seconds (user and system) of the processes named `command` so far.
pub fn cpu_seconds_of(command: &str) -> anyhow::Result<f64> {
    let ticks_per_second: f64 = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0);
    let mut ticks = 0u64;
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let path = entry.path();
        if std::fs::read_to_string(path.join("comm")).is_ok_and(|comm| comm.trim() == command)
            && let Ok(stat) = std::fs::read_to_string(path.join("stat"))
            // The fields after the command's closing parenthesis; utime and stime are 12th and 13th.
            && let Some(rest) = stat.rsplit(')').next()
        {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let field = |index: usize| {
                fields
                    .get(index)
                    .and_then(|f| f.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            ticks += field(11) + field(12);
        }
    }
    Ok(ticks as f64 / ticks_per_second)
}
