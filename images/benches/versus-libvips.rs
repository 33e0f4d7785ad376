//! `./dev bench images DIR` (`cargo bench -p catalog-images --bench versus-libvips -- DIR
//! PYTHON`): our variants of every image in a folder, next to libvips making the same variants
//! at the same qualities from the same bytes (`VIPS_CONCURRENCY=1`), written the way a libvips
//! expert writes a chain of sizes: one decode with shrink-on-load, each smaller size from the
//! one before, JPEG, WebP and AVIF of each (`benches/vips.py one-decode`). The weaker
//! four-decode reference (four `thumbnail_buffer` calls, JPEG only) is shown beside it,
//! labelled. Each side runs in a process of its own, so each peak memory is its own.
//!
//! Our pipeline encodes on a second thread, so the sides are compared by CPU time (all
//! threads of the process, as the kernel counts it), which is what a photo costs; the wall
//! time of ours is shown beside it. Each is given twice: to the point the photo would be
//! ready (JPEG or PNG, and WebP), and with the AVIF, which the processor makes after
//! ([`variants::later_formats`]). It reports, per file and per format, the seconds and their
//! ratio; DSSIM (0 is identical) between our variants and libvips's; and for the WebP and AVIF
//! variants, their bytes against the JPEG's, the time each adds, and a sweep of qualities
//! around the chosen one, each scored against the image resized without loss (DSSIM) beside
//! the JPEG's score: the chosen quality is the one whose score matches the JPEG's. It prints
//! figures; it never passes or fails on them.

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
        let (started, cpu) = (Instant::now(), cpu_seconds());
        let rendition = images::render(&bytes, LIMITS)
            .map_err(|r| anyhow::anyhow!("{}: {r}", path.display()))?;
        let (seconds, cpu_ready) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        // The AVIF the processor makes once the photo is ready: part of a photo's work.
        let later = variants::later_formats(&rendition.later)
            .map_err(|r| anyhow::anyhow!("{}: {r}", path.display()))?;
        let cpu = cpu_seconds() - cpu;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
        for variant in &rendition.variants {
            std::fs::write(out.join(format!("{stem}.{}", variant.name)), &variant.bytes)?;
            for alternate in &variant.alternates {
                let extension = alternate.content_type.trim_start_matches("image/");
                let file = format!("{stem}.{}.{extension}", variant.name);
                std::fs::write(out.join(file), &alternate.bytes)?;
            }
        }
        for (name, alternate) in &later {
            let extension = alternate.content_type.trim_start_matches("image/");
            std::fs::write(
                out.join(format!("{stem}.{name}.{extension}")),
                &alternate.bytes,
            )?;
        }
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let timing = json!({"file": name, "seconds": seconds, "cpu": cpu, "cpu_ready": cpu_ready});
        println!("{timing}");
    }
    println!("{}", json!({"peak_bytes": peak_rss_bytes()}));
    Ok(())
}

/// CPU seconds this process has spent, all its threads (ended ones too), in the kernel's
/// ticks of 1/100 s (`USER_HZ`).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which may hold spaces) end with ')'; utime and
            // stime are the 14th and 15th fields of the line.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let ticks = |index: usize| fields.get(index)?.parse::<u64>().ok();
            Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
        })
        .unwrap_or_default()
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

/// One file's time on one side: wall and CPU seconds until the photo would be ready (JPEG or
/// PNG, and WebP), and CPU seconds with the AVIF too.
struct Timing {
    file: String,
    wall: f64,
    cpu_ready: f64,
    cpu: f64,
}

/// One side's figures: time per file, and its peak memory.
struct Side {
    files: Vec<Timing>,
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
        files: Vec::new(),
        peak_bytes: 0,
    };
    for line in String::from_utf8(output.stdout)?.lines() {
        let value: Value = serde_json::from_str(line)?;
        if let Some(peak) = value["peak_bytes"].as_u64() {
            side.peak_bytes = peak;
        } else {
            side.files.push(Timing {
                file: value["file"].as_str().unwrap_or_default().to_owned(),
                wall: value["seconds"].as_f64().unwrap_or_default(),
                cpu_ready: value["cpu_ready"].as_f64().unwrap_or_default(),
                cpu: value["cpu"].as_f64().unwrap_or_default(),
            });
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
                .arg(variants::AVIF_QUALITY.to_string())
                .arg(variants::AVIF_SPEED.to_string())
                .env("VIPS_CONCURRENCY", "1"),
        )
        .with_context(|| format!("running libvips (pyvips, {chain})"))
    };
    let one = vips("one-decode")?;
    let four = vips("four-decode")?;
    println!(
        "{:<32} {:>4} | {:>9} {:>9} {:>9} {:>5} | {:>9} {:>9} {:>5} | {:>9} {:>9}",
        "", "", "to ready:", "", "", "", "with AVIF:", "", "", "", "4-decode"
    );
    println!(
        "{:<32} {:>4} | {:>9} {:>9} {:>9} {:>5} | {:>9} {:>9} {:>5} | {:>9} {:>9}",
        "image",
        "type",
        "ours wall",
        "ours CPU",
        "vips CPU",
        "ratio",
        "ours CPU",
        "vips CPU",
        "ratio",
        "DSSIM",
        "CPU"
    );
    let mut totals: BTreeMap<String, [f64; 5]> = BTreeMap::new();
    let (mut worst_file, mut worst_dssim) = (0.0f64, 0.0f64);
    let rows = ours.files.iter().zip(&one.files).zip(&four.files);
    for ((ours, one), four) in rows {
        let file = &ours.file;
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
        worst_file = worst_file.max(ours.cpu_ready / one.cpu_ready);
        println!(
            "{file:<32} {kind:>4} | {:>9.3} {:>9.3} {:>9.3} {:>5.2} | {:>9.3} {:>9.3} {:>5.2} | {:>9.5} {:>9.3}",
            ours.wall,
            ours.cpu_ready,
            one.cpu_ready,
            ours.cpu_ready / one.cpu_ready,
            ours.cpu,
            one.cpu,
            ours.cpu / one.cpu,
            scores[3],
            four.cpu
        );
        for key in [kind, "all".to_owned()] {
            let total = totals.entry(key).or_default();
            for (sum, value) in
                total
                    .iter_mut()
                    .zip([ours.cpu_ready, one.cpu_ready, ours.cpu, one.cpu, four.cpu])
            {
                *sum += value;
            }
        }
    }
    for (kind, [ready, one_ready, all, one_all, four]) in &totals {
        println!(
            "{:<32} {kind:>4} | {:>9} {ready:>9.3} {one_ready:>9.3} {:>5.2} | {all:>9.3} {one_all:>9.3} {:>5.2} | {:>9} {four:>9.3}  (ready against 4-decode {:.2})",
            "total",
            "",
            ready / one_ready,
            all / one_all,
            "",
            ready / four
        );
    }
    println!(
        "slowest file against libvips (CPU to ready): {worst_file:.2}; worst DSSIM of any variant: {worst_dssim:.5}"
    );
    println!(
        "peak memory: ours {:.1} MiB, libvips one-decode {:.1} MiB, four-decode {:.1} MiB (python processes)",
        mib(ours.peak_bytes),
        mib(one.peak_bytes),
        mib(four.peak_bytes)
    );
    for format in [Alternate::WebP, Alternate::Avif] {
        alternate_report(folder, &out, format)?;
    }
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}

/// A format made beside the JPEG.
#[derive(Clone, Copy)]
enum Alternate {
    WebP,
    Avif,
}

impl Alternate {
    fn extension(self) -> &'static str {
        match self {
            Self::WebP => "webp",
            Self::Avif => "avif",
        }
    }

    /// The qualities swept, the chosen one among them.
    fn qualities(self) -> Vec<u8> {
        match self {
            Self::WebP => vec![83, 85, 87, 89],
            Self::Avif => vec![72, 74, 76],
        }
    }

    fn chosen(self) -> u8 {
        match self {
            Self::WebP => variants::WEBP_QUALITY as u8,
            Self::Avif => variants::AVIF_QUALITY,
        }
    }

    fn encode(self, pixels: &image::RgbImage, quality: u8) -> anyhow::Result<Vec<u8>> {
        let (width, height) = pixels.dimensions();
        match self {
            Self::WebP => variants::webp(pixels, width, height, false, f32::from(quality)),
            Self::Avif => variants::avif(pixels, width, height, quality),
        }
        .map_err(|rejection| anyhow::anyhow!("{rejection}"))
    }

    fn decode(self, bytes: &[u8]) -> anyhow::Result<image::RgbaImage> {
        Ok(match self {
            Self::WebP => image::load_from_memory(bytes)?.to_rgba8(),
            Self::Avif => {
                let pixels = libavif::decode_rgb(bytes)?;
                image::RgbaImage::from_raw(pixels.width(), pixels.height(), pixels.to_vec())
                    .context("an AVIF of the wrong size")?
            }
        })
    }
}

/// One format's variants against the JPEG ones: bytes, the encode time it adds, and a sweep
/// of qualities scored against the image resized without loss, beside the JPEG's score.
fn alternate_report(folder: &Path, out: &Path, format: Alternate) -> anyhow::Result<()> {
    let extension = format.extension();
    let qualities = format.qualities();
    let (mut ratios, mut jpeg_scores, mut seconds) = (vec![], vec![], 0.0);
    let mut sweep = vec![(0.0, 0.0); qualities.len()];
    let mut photos = 0;
    for path in images_in(folder)? {
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let stem = stem(name);
        let ours = |variant: VariantName, extension: &str| {
            out.join("ours").join(match extension {
                "" => format!("{stem}.{variant}"),
                _ => format!("{stem}.{variant}.{extension}"),
            })
        };
        if !ours(VariantName::Large, extension).exists() {
            continue; // transparent images are PNG: no JPEG (and no AVIF) to compare with
        }
        photos += 1;
        let (mut jpeg_bytes, mut alternate_bytes) = (0, 0);
        for variant in VariantName::ALL {
            let jpeg = std::fs::read(ours(variant, ""))?;
            jpeg_bytes += jpeg.len();
            alternate_bytes += std::fs::metadata(ours(variant, extension))?.len();
            // The time the format adds: the variant's pixels encoded again as the pipeline does.
            let pixels = image::load_from_memory(&jpeg)?.to_rgb8();
            let started = Instant::now();
            format.encode(&pixels, format.chosen())?;
            seconds += started.elapsed().as_secs_f64();
        }
        ratios.push(alternate_bytes as f64 / jpeg_bytes as f64);
        // The sweep: the image resized without loss to the large variant's size, encoded as
        // JPEG and at each quality, each scored against it.
        let large = load(&ours(VariantName::Large, ""))?;
        let reference = image::imageops::resize(
            &image::load_from_memory(&std::fs::read(&path)?)?.to_rgb8(),
            large.width(),
            large.height(),
            image::imageops::FilterType::Lanczos3,
        );
        let (width, height) = reference.dimensions();
        let rgba = image::DynamicImage::ImageRgb8(reference.clone()).to_rgba8();
        let jpeg = variants::jpeg(&reference, width, height)?;
        jpeg_scores.push((
            dssim(&rgba, &image::load_from_memory(&jpeg)?.to_rgba8())?,
            jpeg.len(),
        ));
        for (quality, (score, bytes)) in qualities.iter().zip(&mut sweep) {
            let encoded = format.encode(&reference, *quality)?;
            *score += dssim(&rgba, &format.decode(&encoded)?)?;
            *bytes += encoded.len() as f64 / jpeg.len() as f64;
        }
    }
    let count = f64::from(photos.max(1));
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len().max(1) as f64;
    let jpeg_score = jpeg_scores.iter().map(|(score, _)| score).sum::<f64>() / count;
    println!(
        "{extension} (quality {}) over {photos} opaque photos: {:.2} of the JPEG bytes on average; \
         adds {:.3} s of encoding a photo (one thread)",
        format.chosen(),
        mean(&ratios),
        seconds / count,
    );
    let points: Vec<String> = qualities
        .iter()
        .zip(&sweep)
        .map(|(quality, (score, bytes))| {
            format!(
                "q{quality} {:.5} ({:.2} of the bytes)",
                score / count,
                bytes / count
            )
        })
        .collect();
    println!(
        "  DSSIM of the large variant against the lossless resize: JPEG q{} {jpeg_score:.5}; {extension} {}",
        variants::JPEG_QUALITY,
        points.join(", ")
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
