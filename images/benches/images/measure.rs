//! Our side of `./dev bench images`, run as `images ours DIR` in a process of its own: each
//! photo rendered as the processor renders it (its AVIF after), timed by CPU; then the
//! codecs' floor for the same files (the scaled decode and every encode alone, one thread);
//! then, untimed, the score and bytes of every file made, beside the files the fixed
//! qualities of before made of the same pixels. One JSON line a photo.

use std::path::Path;

use catalog_events::VariantName;
use catalog_images::decode::decode;
use catalog_images::quality::Sample;
use catalog_images::{self as images, Limits, Rendition, variants};
use image::ImageEncoder;
use serde::{Deserialize, Serialize};

use crate::score;

pub const LIMITS: Limits = Limits {
    max_pixels: 80_000_000,
};

/// The qualities before they were chosen per photo: JPEG 80, and WebP and AVIF matched to it
/// by DSSIM on ten wallpapers.
pub const BEFORE: Qualities = Qualities {
    jpeg: Some(80),
    webp: 87,
    avif: Some(74),
};

/// The encoders' qualities for one photo.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Qualities {
    pub jpeg: Option<u8>,
    pub webp: u8,
    pub avif: Option<u8>,
}

/// One photo's figures.
#[derive(Debug, Serialize, Deserialize)]
pub struct Photo {
    pub file: String,
    pub width: u32,
    pub height: u32,
    pub alpha: bool,
    pub qualities: Qualities,
    pub cpu: Cpu,
    /// Largest first.
    pub variants: Vec<Variant>,
}

/// CPU seconds (all threads of the process), and the wall time to ready.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Cpu {
    /// The render: decode, resize, the JPEG and WebP qualities' search, the encodes.
    pub ready: f64,
    pub wall_ready: f64,
    /// The AVIF, after: its quality's search and its encodes.
    pub later: f64,
    /// The two searches alone.
    pub search_ready: f64,
    pub search_later: f64,
    /// The codecs' floor: the scaled decode, and each file's encode alone.
    pub floor_decode: f64,
    pub floor_ready: f64,
    pub floor_later: f64,
}

/// One variant's files, per photo, now and with the qualities of before.
#[derive(Debug, Serialize, Deserialize)]
pub struct Variant {
    pub name: VariantName,
    pub after: Files,
    pub before: Files,
}

/// A variant's files: its JPEG (or PNG), its WebP and its AVIF (none for a transparent one).
#[derive(Debug, Serialize, Deserialize)]
pub struct Files {
    pub primary: File,
    pub webp: File,
    pub avif: Option<File>,
}

/// One file made: its bytes, whether the API offers it, and its scores against the pixels it
/// was made from (SSIMULACRA2, 100 identical; DSSIM, 0 identical).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct File {
    pub bytes: usize,
    pub offered: bool,
    pub ssimulacra2: f64,
    pub dssim: f64,
}

/// The images of a folder that the bench reads, by name.
pub fn images_in(folder: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(folder)?
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

/// CPU seconds this process has spent, all its threads.
pub fn cpu_seconds() -> f64 {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    time.tv_sec as f64 + time.tv_nsec as f64 / 1e9
}

/// `f`'s result and the CPU seconds it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let started = cpu_seconds();
    let result = f();
    (result, cpu_seconds() - started)
}

/// Measures every photo of `folder`, printing a JSON line for each.
pub fn ours(folder: &Path) -> anyhow::Result<()> {
    for path in images_in(folder)? {
        let bytes = std::fs::read(&path)?;
        let file = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let photo =
            measure(&bytes, file).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        println!("{}", serde_json::to_string(&photo)?);
    }
    Ok(())
}

fn measure(bytes: &[u8], file: String) -> anyhow::Result<Photo> {
    let mut cpu = Cpu::default();
    let wall = std::time::Instant::now();
    let (rendition, seconds) = timed(|| images::render(bytes, LIMITS));
    let rendition = rendition?;
    (cpu.ready, cpu.wall_ready) = (seconds, wall.elapsed().as_secs_f64());
    let (later, seconds) = timed(|| variants::later_formats(&rendition.later));
    let later = later?;
    cpu.later = seconds;
    cpu.search_ready = rendition.timings.choose.as_secs_f64();
    let alpha = rendition.later.is_empty();
    let pixels = reference_pixels(&rendition)?;
    if let Some((_, small)) = pixels.iter().find(|(name, _)| *name == VariantName::Small) {
        let (found, seconds) =
            timed(|| Sample::new(&small.pixels, small.width, small.height, false)?.avif());
        if !alpha {
            found?;
            cpu.search_later = seconds;
        }
    }
    let qualities = Qualities {
        jpeg: rendition.qualities.jpeg,
        webp: rendition.qualities.webp,
        avif: later.quality,
    };
    // The floor: the decode alone, at the scale the processor asks for.
    let (decoded, seconds) = timed(|| decode(bytes, LIMITS, VariantName::Large.max_side()));
    drop(decoded?);
    cpu.floor_decode = seconds;
    let mut variants_out = Vec::new();
    for (rendered, (name, reference)) in rendition.variants.iter().rev().zip(&pixels) {
        assert_eq!(rendered.name, *name);
        let after = encode(reference, qualities, &mut cpu)?;
        let mut scratch = Cpu::default();
        let before = encode(reference, BEFORE, &mut scratch)?;
        // The floor's files are the pipeline's: the same pixels, encoders and settings.
        anyhow::ensure!(
            after.primary.len() == rendered.bytes.len(),
            "{name}: the floor's primary differs from the pipeline's"
        );
        let offered_avif = later.formats.iter().any(|(n, _)| n == name);
        variants_out.push(Variant {
            name: *name,
            after: after.scored(reference, !rendered.alternates.is_empty(), offered_avif)?,
            before: before.scored(reference, true, true)?,
        });
    }
    Ok(Photo {
        file,
        width: rendition.width,
        height: rendition.height,
        alpha,
        qualities,
        cpu,
        variants: variants_out,
    })
}

/// A variant's pixels as encoded: RGB, or RGBA when transparent.
pub struct Pixels {
    pub pixels: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub alpha: bool,
}

/// Each variant's pixels before encoding, largest first: those the render kept for the AVIF,
/// or, for a transparent photo, its lossless PNG variants decoded.
fn reference_pixels(rendition: &Rendition) -> anyhow::Result<Vec<(VariantName, Pixels)>> {
    if !rendition.later.is_empty() {
        return Ok(rendition
            .later
            .iter()
            .map(|p| {
                let pixels = Pixels {
                    pixels: p.rgb.clone(),
                    width: p.width,
                    height: p.height,
                    alpha: false,
                };
                (p.name, pixels)
            })
            .collect());
    }
    rendition
        .variants
        .iter()
        .rev()
        .map(|v| {
            let image = image::load_from_memory(&v.bytes)?.into_rgba8();
            let (width, height) = image.dimensions();
            let pixels = Pixels {
                pixels: image.into_raw(),
                width,
                height,
                alpha: true,
            };
            Ok((v.name, pixels))
        })
        .collect()
}

/// A variant's three files, as encoded.
struct Encoded {
    primary: Vec<u8>,
    webp: Vec<u8>,
    avif: Option<Vec<u8>>,
}

/// Encodes a variant's files at `qualities`, each alone, adding each encode's CPU time to the
/// floor.
fn encode(p: &Pixels, qualities: Qualities, cpu: &mut Cpu) -> anyhow::Result<Encoded> {
    let (primary, seconds) = timed(|| match qualities.jpeg.filter(|_| !p.alpha) {
        Some(quality) => Ok(variants::jpeg(&p.pixels, p.width, p.height, quality)?),
        None => png(p),
    });
    cpu.floor_ready += seconds;
    let (webp, seconds) = timed(|| {
        variants::webp(
            &p.pixels,
            p.width,
            p.height,
            p.alpha,
            f32::from(qualities.webp),
        )
    });
    cpu.floor_ready += seconds;
    let avif = match qualities.avif.filter(|_| !p.alpha) {
        Some(quality) => {
            let (avif, seconds) = timed(|| variants::avif(&p.pixels, p.width, p.height, quality));
            cpu.floor_later += seconds;
            Some(avif?)
        }
        None => None,
    };
    Ok(Encoded {
        primary: primary?,
        webp: webp?,
        avif,
    })
}

/// The PNG of a transparent variant, as the pipeline writes it.
fn png(p: &Pixels) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut bytes,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(
        &p.pixels,
        p.width,
        p.height,
        image::ExtendedColorType::Rgba8,
    )?;
    Ok(bytes)
}

impl Encoded {
    fn scored(&self, reference: &Pixels, webp: bool, avif: bool) -> anyhow::Result<Files> {
        let file = |bytes: &[u8], offered: bool| -> anyhow::Result<File> {
            let (ssimulacra2, dssim) = score::both(reference, bytes)?;
            Ok(File {
                bytes: bytes.len(),
                offered,
                ssimulacra2,
                dssim,
            })
        };
        Ok(Files {
            primary: file(&self.primary, true)?,
            webp: file(&self.webp, webp)?,
            avif: self.avif.as_deref().map(|a| file(a, avif)).transpose()?,
        })
    }
}
