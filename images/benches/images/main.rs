//! `./dev bench images [DIR]` (`cargo bench -p catalog-images --bench images -- DIR
//! PYTHON`): the image pipeline on a folder of photos (by default the corpus of
//! `benches/images/corpus.list`, real photographs from several Debian packages), against the
//! codecs' floor and against libvips. It prints figures; it never passes or fails on them.
//!
//! - **Bytes and look.** For each variant size and format, the bytes against the variant's
//!   JPEG (or PNG) and the SSIMULACRA2 and DSSIM of each file against the pixels it was made
//!   from, with the qualities chosen per photo ("after") and with the fixed qualities of
//!   before (JPEG 80, WebP 87, AVIF 74, "before"); how many of each format the API offers;
//!   each photo's `large` WebP and AVIF against its JPEG; and the weight of a gallery page of
//!   20 photos (one `large`, 19 `small`) served as the API directs a browser (`<picture>`
//!   with AVIF, then WebP, then the JPEG or PNG), against the same page in JPEG only.
//! - **CPU.** Our render to ready (decode, resize, the qualities' search, JPEG or PNG and
//!   WebP) and with the AVIF made after, by CPU time (all threads: our render encodes on two);
//!   the codecs' floor for the same files (the scaled decode and each encode alone, on one
//!   thread: the least any pipeline that makes these files can spend); and libvips making the
//!   same files at the same qualities the way an expert writes a chain of sizes (one decode
//!   with shrink-on-load, each size from the one before, `VIPS_CONCURRENCY=1`;
//!   `benches/images/vips.py`). The search's share of a photo's CPU.
//!
//! Each side runs in a process of its own.

mod measure;
mod report;
mod score;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::Context;
use serde_json::{Value, json};

/// The binary's allocator, as in `catalog`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// libvips's CPU seconds for one photo: to ready (JPEG or PNG, and WebP of each size) and
/// with the AVIF.
#[derive(Debug, Default, Clone, Copy)]
pub struct Vips {
    pub ready: f64,
    pub all: f64,
}

fn run(folder: &Path, python: &Path) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let output = Command::new(&me).arg("ours").arg(folder).output()?;
    anyhow::ensure!(
        output.status.success(),
        "our side failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let photos = String::from_utf8(output.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<Vec<measure::Photo>, _>>()?;
    let vips = libvips(folder, python, &photos)?;
    report::print(&photos, &vips);
    Ok(())
}

/// libvips making each photo's files at the qualities ours chose for it.
fn libvips(
    folder: &Path,
    python: &Path,
    photos: &[measure::Photo],
) -> anyhow::Result<BTreeMap<String, Vips>> {
    let work = std::env::temp_dir().join(format!("catalog-bench-images-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let qualities: BTreeMap<&str, Value> = photos
        .iter()
        .map(|p| (p.file.as_str(), json!(p.qualities)))
        .collect();
    let qualities_file = work.join("qualities.json");
    std::fs::write(&qualities_file, serde_json::to_vec(&qualities)?)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/images/vips.py");
    let output = Command::new(python)
        .arg(&script)
        .arg(folder)
        .arg(work.join("out"))
        .arg(&qualities_file)
        .env("VIPS_CONCURRENCY", "1")
        .output()
        .context("running libvips (pyvips)")?;
    let _ = std::fs::remove_dir_all(&work);
    anyhow::ensure!(
        output.status.success(),
        "libvips failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)?
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)?;
            let seconds = |key: &str| value[key].as_f64().unwrap_or_default();
            let file = value["file"].as_str().unwrap_or_default().to_owned();
            Ok((
                file,
                Vips {
                    ready: seconds("cpu_ready"),
                    all: seconds("cpu"),
                },
            ))
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    // Cargo adds `--bench` to the arguments of a bench without a harness.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect();
    match args.as_slice() {
        [side, folder] if side == "ours" => measure::ours(Path::new(folder)),
        [folder, python] => run(Path::new(folder), Path::new(python)),
        _ => anyhow::bail!("usage: images DIR PYTHON (the Python that has pyvips)"),
    }
}
