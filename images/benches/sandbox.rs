//! `./dev bench sandbox DIR` (`cargo bench -p catalog-images --bench sandbox -- DIR`): what
//! decoding in a sandbox costs a photo. Each image of the folder is decoded as the processor
//! decodes it (to the largest variant's size), in this process and in a decoder process of its
//! own (this binary, confined as `catalog decode-sandbox` is), several times each; it prints
//! the median of each and their difference: the process started, confined, the original sent
//! and the pixels read back. A decoder process with nothing to decode gives the fixed part.
//! It prints figures; it never passes or fails on them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use catalog_images::decode;
use catalog_images::sandbox::{self, Sandbox};
use catalog_images::{Limits, Rejection};

/// The binary's allocator, as in `catalog`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LIMITS: Limits = Limits {
    max_pixels: 50_000_000,
};
const COVER: u32 = 1600;
const MEMORY: u64 = 1 << 30;
/// Decodes of each kind per image; the median is shown.
const ROUNDS: usize = 9;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(sandbox::SUBCOMMAND) {
        sandbox::serve();
    }
    let folder = args
        .iter()
        .find(|arg| !arg.starts_with("--"))
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("usage: sandbox DIR (a folder of images)"))?;
    let sandbox = Sandbox::new(std::env::current_exe()?, Duration::from_secs(60));
    println!("the decoder process: {}", sandbox.check()?);
    let empty = median(|| {
        let started = Instant::now();
        let _ = sandbox.decode(&[], LIMITS, COVER, MEMORY);
        started.elapsed()
    });
    println!("a decoder process with nothing to decode: {}", ms(empty));
    println!(
        "{:<40} {:>11} {:>9} {:>12} {:>11} {:>11} {:>9}",
        "file", "pixels", "MB", "decoded", "in-process", "sandboxed", "overhead"
    );
    for path in images_in(&folder)? {
        let bytes = std::fs::read(&path)?;
        let decoded = decode::decode(&bytes, LIMITS, COVER)
            .map_err(|r: Rejection| anyhow::anyhow!("{}: {r}", path.display()))?;
        let here = median(|| {
            let started = Instant::now();
            let _ = decode::decode(&bytes, LIMITS, COVER);
            started.elapsed()
        });
        let there = median(|| {
            let started = Instant::now();
            let _ = sandbox.decode(&bytes, LIMITS, COVER, MEMORY);
            started.elapsed()
        });
        let (width, height) = decoded.original;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        println!(
            "{name:<40} {:>11} {:>9.1} {:>12} {:>11} {:>11} {:>9}",
            format!("{width}x{height}"),
            bytes.len() as f64 / 1e6,
            format!("{}x{}", decoded.image.width(), decoded.image.height()),
            ms(here),
            ms(there),
            ms(there.saturating_sub(here)),
        );
    }
    Ok(())
}

/// The images of a folder, by name.
fn images_in(folder: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                matches!(
                    e.to_ascii_lowercase().as_str(),
                    "jpg" | "jpeg" | "png" | "webp" | "heic"
                )
            })
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The median of [`ROUNDS`] runs of `run`, after one to warm up.
fn median(mut run: impl FnMut() -> Duration) -> Duration {
    run();
    let mut times: Vec<Duration> = (0..ROUNDS).map(|_| run()).collect();
    times.sort();
    times[ROUNDS / 2]
}

fn ms(time: Duration) -> String {
    format!("{:.1} ms", time.as_secs_f64() * 1e3)
}
