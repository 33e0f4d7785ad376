//! The decoders' sandbox from the outside. This test binary is also the decoder process its
//! tests start (`sandbox decode-sandbox`, as the processor starts `catalog decode-sandbox`), so
//! it has a `main` of its own: libtest would print on the stdout that carries the answer.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::io::Cursor;
use std::process::ExitCode;
use std::time::Duration;

use catalog_images::decode::{self, Decoded};
use catalog_images::sandbox::{self, Sandbox};
use catalog_images::{Limits, Rejection, hostile};
use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage};

/// The binary's allocator, as in `catalog`: the memory limit has to hold with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LIMITS: Limits = Limits {
    max_pixels: 50_000_000,
};
/// The longest side of the largest variant, which the decodes cover.
const COVER: u32 = 1600;
/// Memory enough for any file here.
const MEMORY: u64 = 512 << 20;

/// A 320 x 200 HEIC, red on the left and blue on the right (x265).
const TWO_COLOURS_HEIC: &[u8] = include_bytes!("../fixtures/two-colours.heic");

const TESTS: &[(&str, fn())] = &[
    (
        "the_decoder_process_confines_itself",
        the_decoder_process_confines_itself,
    ),
    (
        "each_format_decodes_to_the_same_pixels_as_in_process",
        each_format_decodes_to_the_same_pixels_as_in_process,
    ),
    (
        "a_refused_file_keeps_its_reason",
        a_refused_file_keeps_its_reason,
    ),
    (
        "a_crash_fails_the_photo_and_the_next_decodes",
        a_crash_fails_the_photo_and_the_next_decodes,
    ),
    (
        "a_decode_past_its_memory_fails_with_the_reason",
        a_decode_past_its_memory_fails_with_the_reason,
    ),
    (
        "a_decode_past_its_timeout_is_killed",
        a_decode_past_its_timeout_is_killed,
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(sandbox::SUBCOMMAND) {
        sandbox::serve();
    }
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with('-')).collect();
    let chosen: Vec<_> = TESTS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(*f)))
        .collect();
    println!("\nrunning {} tests", chosen.len());
    let mut failed = Vec::new();
    for (name, test) in &chosen {
        let passed = std::panic::catch_unwind(test).is_ok();
        println!("test {name} ... {}", if passed { "ok" } else { "FAILED" });
        if !passed {
            failed.push(name);
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {} filtered out\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        chosen.len() - failed.len(),
        failed.len(),
        TESTS.len() - chosen.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The sandbox whose decoder process is this binary.
fn sandbox(timeout: Duration) -> Sandbox {
    Sandbox::new(std::env::current_exe().unwrap(), timeout)
}

fn sandboxed(bytes: &[u8], memory: u64) -> Result<Decoded, Rejection> {
    sandbox(Duration::from_secs(60))
        .decode(bytes, LIMITS, COVER, memory)
        .unwrap()
}

/// A smooth RGB gradient: compresses like a photograph.
fn photo(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 90])
    })
}

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut compressor = turbojpeg::Compressor::new().unwrap();
    compressor.set_quality(90).unwrap();
    compressor
        .compress_to_vec(turbojpeg::Image {
            pixels: image.as_raw().as_slice(),
            width: image.width() as usize,
            pitch: image.width() as usize * 3,
            height: image.height() as usize,
            format: turbojpeg::PixelFormat::RGB,
        })
        .unwrap()
}

/// A JPEG with an EXIF segment that sets orientation 6 (turn clockwise).
fn jpeg_turned(image: &RgbImage) -> Vec<u8> {
    let bytes = jpeg(image);
    let tiff = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&bytes[2..]);
    out
}

fn png(image: &DynamicImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

fn webp(image: &RgbImage) -> Vec<u8> {
    webp::Encoder::from_rgb(image.as_raw(), image.width(), image.height())
        .encode(80.0)
        .to_vec()
}

fn the_decoder_process_confines_itself() {
    let confinement = sandbox(Duration::from_secs(10)).check().unwrap();
    println!("    the decoder process: {confinement}");
    assert!(confinement.rlimits && confinement.seccomp, "{confinement}");
}

fn each_format_decodes_to_the_same_pixels_as_in_process() {
    let transparent = DynamicImage::ImageRgba8(RgbaImage::from_fn(300, 200, |x, y| {
        Rgba([x as u8, y as u8, 90, (x + y) as u8])
    }));
    let files = [
        ("JPEG", jpeg(&photo(4000, 3000))),
        ("turned JPEG", jpeg_turned(&photo(640, 480))),
        ("PNG", png(&transparent)),
        ("WebP", webp(&photo(2400, 1800))),
        ("HEIC", TWO_COLOURS_HEIC.to_vec()),
    ];
    for (format, bytes) in files {
        let here = decode::decode(&bytes, LIMITS, COVER).unwrap();
        let there = sandboxed(&bytes, MEMORY).unwrap();
        assert_eq!(there.original, here.original, "{format}");
        assert_eq!(there.orientation, here.orientation, "{format}");
        assert_eq!(there.image.color(), here.image.color(), "{format}");
        assert!(there.image == here.image, "{format}: other pixels");
    }
}

fn a_refused_file_keeps_its_reason() {
    let small = Limits { max_pixels: 10_000 };
    let files = [
        (b"not an image".to_vec(), LIMITS),
        (png(&DynamicImage::ImageRgb8(photo(200, 100))), small),
        (hostile::jpeg_with_scans(&photo(64, 64), 500), LIMITS),
        (hostile::png_with_profile(50 << 20), LIMITS),
        (jpeg(&photo(64, 64))[..300].to_vec(), LIMITS),
    ];
    for (bytes, limits) in files {
        let here = decode::decode(&bytes, limits, COVER).err().unwrap();
        let there = sandbox(Duration::from_secs(60))
            .decode(&bytes, limits, COVER, MEMORY)
            .unwrap()
            .err()
            .unwrap();
        assert_eq!(there, here);
    }
}

fn a_crash_fails_the_photo_and_the_next_decodes() {
    let crashed = sandboxed(hostile::CRASHES_THE_DECODER, MEMORY)
        .err()
        .unwrap();
    assert_eq!(crashed, Rejection::DecoderCrashed("signal 11".into()));
    assert_eq!(
        crashed.to_string(),
        "the decoder crashed (signal 11)",
        "the seller's reason"
    );
    let next = sandboxed(&jpeg(&photo(640, 480)), MEMORY).unwrap();
    assert_eq!(next.original, (640, 480));
}

fn a_decode_past_its_memory_fails_with_the_reason() {
    // 4000 x 3000 pixels of 8-bit RGB decode to 36 MB, with 1 MiB to do it in.
    let bytes = png(&DynamicImage::ImageRgb8(photo(4000, 3000)));
    let refused = sandboxed(&bytes, 1 << 20).err().unwrap();
    assert_eq!(refused, Rejection::DecoderOutOfMemory { limit_mib: 1 });
    assert_eq!(
        refused.to_string(),
        "the decoder ran out of its memory limit of 1 MiB"
    );
    assert!(sandboxed(&bytes, MEMORY).is_ok(), "with memory enough");
}

fn a_decode_past_its_timeout_is_killed() {
    let bytes = jpeg(&photo(4000, 3000));
    let sandbox = sandbox(Duration::from_millis(1));
    assert!(
        sandbox.check().is_ok(),
        "the check has a timeout of its own"
    );
    let refused = sandbox
        .decode(&bytes, LIMITS, COVER, MEMORY)
        .unwrap()
        .err()
        .unwrap();
    assert_eq!(
        refused,
        Rejection::TooSlow {
            limit: "1ms".into()
        }
    );
}
