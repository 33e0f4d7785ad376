//! `./dev bench images DIR` (`cargo bench -p catalog-images --bench versus-libvips -- DIR
//! PYTHON`): our variants of every image in a folder, next to libvips making the same four
//! sizes at the same quality from the same bytes on one thread (pyvips `thumbnail_buffer`,
//! `VIPS_CONCURRENCY=1`). Each side runs in a process of its own, so each peak memory is its
//! own; the variants are compared with DSSIM (0 is identical). It prints figures; it never
//! passes or fails on them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use catalog_events::VariantName;
use catalog_images::{self as images, Limits};
use serde_json::{Value, json};

const LIMITS: Limits = Limits {
    max_pixels: 50_000_000,
};

/// The images of a folder that the bench reads, by name.
fn images_in(folder: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)?
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

/// The side measured here, run as `versus-libvips ours DIR OUT` in a process of its own.
fn ours(folder: &Path, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    for path in images_in(folder)? {
        let bytes = std::fs::read(&path)?;
        let started = Instant::now();
        let rendition = images::render(&bytes, LIMITS)
            .map_err(|r| anyhow::anyhow!("{}: {r}", path.display()))?;
        let seconds = started.elapsed().as_secs_f64();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
        for variant in &rendition.variants {
            std::fs::write(out.join(format!("{stem}.{}", variant.name)), &variant.bytes)?;
        }
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        println!("{}", json!({"file": name, "seconds": seconds}));
    }
    println!("{}", json!({"peak_bytes": peak_rss_bytes()}));
    Ok(())
}

fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| {
                    value
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map_or(0, |kib| kib * 1024)
}

/// One side's figures: seconds per file, and its peak memory.
struct Side {
    seconds: Vec<(String, f64)>,
    peak_bytes: u64,
}

fn run_side(command: &mut Command) -> anyhow::Result<Side> {
    let output = command.output()?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut side = Side {
        seconds: Vec::new(),
        peak_bytes: 0,
    };
    for line in String::from_utf8(output.stdout)?.lines() {
        let value: Value = serde_json::from_str(line)?;
        if let Some(peak) = value["peak_bytes"].as_u64() {
            side.peak_bytes = peak;
        } else {
            let file = value["file"].as_str().unwrap_or_default().to_owned();
            side.seconds
                .push((file, value["seconds"].as_f64().unwrap_or_default()));
        }
    }
    Ok(side)
}

fn run(folder: &Path, python: &Path) -> anyhow::Result<()> {
    let out = std::env::temp_dir().join(format!("catalog-bench-images-{}", std::process::id()));
    let me = std::env::current_exe()?;
    let ours = run_side(
        Command::new(&me)
            .arg("ours")
            .arg(folder)
            .arg(out.join("ours")),
    )?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/vips.py");
    let vips = run_side(
        Command::new(python)
            .arg(script)
            .arg(folder)
            .arg(out.join("vips"))
            .env("VIPS_CONCURRENCY", "1"),
    )
    .context("running libvips (pyvips)")?;
    println!(
        "{:<28} {:>9} {:>9} {:>6} {:>12}",
        "image", "ours s", "vips s", "ratio", "DSSIM large"
    );
    let (mut total_ours, mut total_vips, mut worst) = (0.0, 0.0, 0.0f64);
    for ((file, ours_s), (_, vips_s)) in ours.seconds.iter().zip(&vips.seconds) {
        let stem = Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let mut scores = Vec::new();
        for name in VariantName::ALL {
            let a = out.join("ours").join(format!("{stem}.{name}"));
            let b = out.join("vips").join(format!("{stem}.{name}"));
            scores.push(dssim(&a, &b)?);
        }
        worst = scores.iter().copied().fold(worst, f64::max);
        println!(
            "{file:<28} {ours_s:>9.3} {vips_s:>9.3} {:>6.2} {:>12.5}",
            ours_s / vips_s,
            scores[3]
        );
        total_ours += ours_s;
        total_vips += vips_s;
    }
    println!(
        "{:<28} {total_ours:>9.3} {total_vips:>9.3} {:>6.2}   (worst DSSIM of any variant: {worst:.5})",
        "total",
        total_ours / total_vips
    );
    println!(
        "peak memory: ours {:.1} MiB, libvips (python process) {:.1} MiB",
        ours.peak_bytes as f64 / 1_048_576.0,
        vips.peak_bytes as f64 / 1_048_576.0
    );
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}

/// DSSIM between two encoded images of the same size (0 is identical).
fn dssim(a: &Path, b: &Path) -> anyhow::Result<f64> {
    let load = |path: &Path| -> anyhow::Result<image::RgbaImage> {
        let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
        Ok(image::load_from_memory(&bytes)
            .with_context(|| path.display().to_string())?
            .to_rgba8())
    };
    let (a, b) = (load(a)?, load(b)?);
    anyhow::ensure!(
        a.dimensions() == b.dimensions(),
        "sizes differ: {:?} vs {:?}",
        a.dimensions(),
        b.dimensions()
    );
    let attr = dssim_core::Dssim::new();
    let pixels = |image: &image::RgbaImage| -> Vec<rgb::RGBA8> {
        image
            .pixels()
            .map(|p| rgb::RGBA8::new(p[0], p[1], p[2], p[3]))
            .collect()
    };
    let (width, height) = (a.width() as usize, a.height() as usize);
    let first = attr
        .create_image_rgba(&pixels(&a), width, height)
        .context("DSSIM image")?;
    let second = attr
        .create_image_rgba(&pixels(&b), width, height)
        .context("DSSIM image")?;
    let (value, _) = attr.compare(&first, second);
    Ok(f64::from(value))
}

fn main() -> anyhow::Result<()> {
    // Cargo adds `--bench` to the arguments of a bench without a harness.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect();
    match args.as_slice() {
        [side, folder, out] if side == "ours" => ours(Path::new(folder), Path::new(out)),
        [folder, python] => run(Path::new(folder), Path::new(python)),
        _ => anyhow::bail!("usage: versus-libvips DIR PYTHON (the Python that has pyvips)"),
    }
}
