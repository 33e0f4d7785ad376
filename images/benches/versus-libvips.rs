//! `./dev bench images DIR` (`cargo bench -p catalog-images --bench versus-libvips -- DIR
//! PYTHON`): our variants of every image in a folder, next to libvips making the same variants
//! at the same quality from the same bytes on one thread (`VIPS_CONCURRENCY=1`), written the
//! way a libvips expert writes a chain of sizes: one decode with shrink-on-load, each smaller
//! size from the one before, JPEG and WebP of each (`benches/vips.py one-decode`). The weaker
//! four-decode reference (four `thumbnail_buffer` calls, JPEG only) is shown beside it,
//! labelled. Each side runs in a process of its own, so each peak memory is its own.
//!
//! It reports, per file and per format, the seconds and their ratio; DSSIM (0 is identical)
//! between our variants and libvips's; and for the WebP variants, their bytes against the
//! JPEG's and the quality of both against the image resized without loss (DSSIM), with the
//! time WebP adds. It prints figures; it never passes or fails on them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use catalog_events::VariantName;
use catalog_images::{self as images, Limits, variants};
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
            for alternate in &variant.alternates {
                let extension = alternate.content_type.trim_start_matches("image/");
                let file = format!("{stem}.{}.{extension}", variant.name);
                std::fs::write(out.join(file), &alternate.bytes)?;
            }
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
    let vips = |chain: &str| {
        run_side(
            Command::new(python)
                .arg(&script)
                .arg(chain)
                .arg(folder)
                .arg(out.join(chain))
                .arg(variants::WEBP_QUALITY.to_string())
                .env("VIPS_CONCURRENCY", "1"),
        )
        .with_context(|| format!("running libvips (pyvips, {chain})"))
    };
    let one = vips("one-decode")?;
    let four = vips("four-decode")?;
    println!(
        "{:<36} {:>5} {:>8} {:>11} {:>6} {:>12} {:>11}",
        "image", "type", "ours s", "libvips s", "ratio", "DSSIM large", "4-decode s"
    );
    let mut totals: BTreeMap<String, [f64; 3]> = BTreeMap::new();
    let (mut worst_file, mut worst_dssim) = (0.0f64, 0.0f64);
    let rows = ours.seconds.iter().zip(&one.seconds).zip(&four.seconds);
    for (((file, ours_s), (_, one_s)), (_, four_s)) in rows {
        let stem = stem(file);
        let kind = Path::new(file)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase()
            .replace("jpeg", "jpg");
        let mut scores = Vec::new();
        for name in VariantName::ALL {
            let a = out.join("ours").join(format!("{stem}.{name}"));
            let b = out.join("one-decode").join(format!("{stem}.{name}"));
            scores.push(dssim(&load(&a)?, &load(&b)?)?);
        }
        worst_dssim = scores.iter().copied().fold(worst_dssim, f64::max);
        worst_file = worst_file.max(ours_s / one_s);
        println!(
            "{file:<36} {kind:>5} {ours_s:>8.3} {one_s:>11.3} {:>6.2} {:>12.5} {four_s:>11.3}",
            ours_s / one_s,
            scores[3]
        );
        for key in [kind, "all".to_owned()] {
            let total = totals.entry(key).or_default();
            total[0] += ours_s;
            total[1] += one_s;
            total[2] += four_s;
        }
    }
    for (kind, [ours_s, one_s, four_s]) in &totals {
        println!(
            "{:<36} {kind:>5} {ours_s:>8.3} {one_s:>11.3} {:>6.2} {:>12} {four_s:>11.3}  (against 4-decode {:.2})",
            "total",
            ours_s / one_s,
            "",
            ours_s / four_s
        );
    }
    println!(
        "slowest file against libvips: {worst_file:.2}; worst DSSIM of any variant: {worst_dssim:.5}"
    );
    println!(
        "peak memory: ours {:.1} MiB, libvips one-decode {:.1} MiB, four-decode {:.1} MiB (python processes)",
        mib(ours.peak_bytes),
        mib(one.peak_bytes),
        mib(four.peak_bytes)
    );
    webp_report(folder, &out)?;
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}

/// The WebP variants against the JPEG ones: bytes, quality against the image resized without
/// loss, and the encode time WebP adds.
fn webp_report(folder: &Path, out: &Path) -> anyhow::Result<()> {
    let (mut ratios, mut jpeg_scores, mut webp_scores, mut seconds) = (vec![], vec![], vec![], 0.0);
    let mut photos = 0;
    for path in images_in(folder)? {
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let stem = stem(name);
        let large_jpeg = out.join("ours").join(format!("{stem}.large"));
        let large_webp = out.join("ours").join(format!("{stem}.large.webp"));
        if !large_webp.exists() || load(&large_jpeg)?.pixels().any(|p| p[3] < 255) {
            continue; // transparent images are PNG: no JPEG to compare with
        }
        photos += 1;
        let (mut jpeg_bytes, mut webp_bytes) = (0, 0);
        for variant in VariantName::ALL {
            let jpeg = std::fs::read(out.join("ours").join(format!("{stem}.{variant}")))?;
            jpeg_bytes += jpeg.len();
            webp_bytes +=
                std::fs::metadata(out.join("ours").join(format!("{stem}.{variant}.webp")))?.len();
            // The time WebP adds: the variant's pixels encoded again as the pipeline does.
            let pixels = image::load_from_memory(&jpeg)?.to_rgb8();
            let started = Instant::now();
            variants::webp(pixels.as_raw(), pixels.width(), pixels.height(), false)
                .map_err(|r| anyhow::anyhow!("{r}"))?;
            seconds += started.elapsed().as_secs_f64();
        }
        ratios.push(webp_bytes as f64 / jpeg_bytes as f64);
        let jpeg = load(&large_jpeg)?;
        let reference = image::imageops::resize(
            &image::load_from_memory(&std::fs::read(&path)?)?.to_rgba8(),
            jpeg.width(),
            jpeg.height(),
            image::imageops::FilterType::Lanczos3,
        );
        jpeg_scores.push(dssim(&reference, &jpeg)?);
        webp_scores.push(dssim(&reference, &load(&large_webp)?)?);
    }
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len().max(1) as f64;
    println!(
        "WebP (quality {}, method {}) over {photos} opaque photos: {:.2} of the JPEG bytes on average; \
         DSSIM of the large variant against the lossless resize: JPEG {:.5}, WebP {:.5}; \
         WebP adds {:.3} s of encoding a photo",
        variants::WEBP_QUALITY,
        variants::WEBP_METHOD,
        mean(&ratios),
        mean(&jpeg_scores),
        mean(&webp_scores),
        seconds / f64::from(photos.max(1)),
    );
    Ok(())
}

fn stem(file: &str) -> &str {
    Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn load(path: &Path) -> anyhow::Result<image::RgbaImage> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    Ok(image::load_from_memory(&bytes)
        .with_context(|| path.display().to_string())?
        .to_rgba8())
}

/// DSSIM between two images of the same size (0 is identical).
fn dssim(a: &image::RgbaImage, b: &image::RgbaImage) -> anyhow::Result<f64> {
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
        .create_image_rgba(&pixels(a), width, height)
        .context("DSSIM image")?;
    let second = attr
        .create_image_rgba(&pixels(b), width, height)
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
