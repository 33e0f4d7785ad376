//! `./dev bench sandbox DIR` (`cargo bench -p catalog-images --bench sandbox -- DIR`): what
//! decoding in a sandbox costs a photo. Each image of the folder is decoded as the processor
//! decodes it (to the largest variant's size), in this process and in a decoder process of its
//! own (this binary, confined as `catalog decode-sandbox` is), several times each; it prints
//! the median wall time of each, and the CPU time a decode took on average, all processes and
//! threads counted (which a busy machine does not skew as it skews the wall time), and their
//! differences: the process started, confined, the original sent and the pixels read back. A
//! decoder process with nothing to decode gives the fixed part. It prints figures; it never
//! passes or fails on them.

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
/// Decodes of each kind per image.
const ROUNDS: usize = 15;

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
    let empty = measure(|| {
        let _ = sandbox.decode(&[], LIMITS, COVER, MEMORY);
    });
    println!(
        "a decoder process with nothing to decode: {} ({} CPU)",
        ms(empty.wall),
        ms(empty.cpu)
    );
    println!(
        "{:<32} {:>9} {:>5} {:>9} | wall: {:>8} {:>9} {:>8} | CPU: {:>8} {:>9} {:>8}",
        "file", "pixels", "MB", "decoded", "here", "sandboxed", "more", "here", "sandboxed", "more"
    );
    for path in images_in(&folder)? {
        let bytes = std::fs::read(&path)?;
        let decoded = decode::decode(&bytes, LIMITS, COVER)
            .map_err(|r: Rejection| anyhow::anyhow!("{}: {r}", path.display()))?;
        let here = measure(|| {
            let _ = decode::decode(&bytes, LIMITS, COVER);
        });
        let there = measure(|| {
            let _ = sandbox.decode(&bytes, LIMITS, COVER, MEMORY);
        });
        let (width, height) = decoded.original;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        println!(
            "{name:<32} {:>9} {:>5.1} {:>9} | wall: {:>8} {:>9} {:>8} | CPU: {:>8} {:>9} {:>8}",
            format!("{width}x{height}"),
            bytes.len() as f64 / 1e6,
            format!("{}x{}", decoded.image.width(), decoded.image.height()),
            ms(here.wall),
            ms(there.wall),
            ms(there.wall.saturating_sub(here.wall)),
            ms(here.cpu),
            ms(there.cpu),
            ms(there.cpu.saturating_sub(here.cpu)),
        );
    }
    Ok(())
}

/// What one decode took: its median wall time and its mean CPU time.
struct Cost {
    wall: Duration,
    cpu: Duration,
}

/// The cost of `run`, over [`ROUNDS`] runs after one to warm up.
fn measure(mut run: impl FnMut()) -> Cost {
    run();
    let cpu = cpu_seconds();
    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .collect();
    let cpu = (cpu_seconds() - cpu) / ROUNDS as f64;
    times.sort();
    Cost {
        wall: times[ROUNDS / 2],
        cpu: Duration::from_secs_f64(cpu.max(0.0)),
    }
}

/// CPU seconds of this process (all its threads) and of its children that ended, in the
/// kernel's ticks of 1/100 s (`USER_HZ`): `utime`, `stime`, `cutime` and `cstime`.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // The fields after the command name (which may hold spaces) start at the state.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let ticks: Option<Vec<u64>> = (11..15).map(|i| fields.get(i)?.parse().ok()).collect();
            Some(ticks?.iter().sum::<u64>() as f64 / 100.0)
        })
        .unwrap_or_default()
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

fn ms(time: Duration) -> String {
    format!("{:.1} ms", time.as_secs_f64() * 1e3)
}
