//! The processor over a corpus of hostile and awkward files, made here: each is either refused
//! with the reason a seller reads, or rendered with the expected sizes, orientation, colours
//! and transparency.

use std::io::Cursor;

use image::{DynamicImage, ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};

use super::*;
use crate::hostile;

const LIMITS: Limits = Limits {
    max_pixels: 50_000_000,
};

/// A 320 x 200 HEIC, red on the left and blue on the right, as libheif's `heif-enc -q 90`
/// (x265) writes it.
const TWO_COLOURS_HEIC: &[u8] = include_bytes!("../fixtures/two-colours.heic");

/// A smooth RGB gradient: compresses like a photograph.
fn photo(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 90])
    })
}

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
        .encode_image(image)
        .unwrap();
    bytes
}

fn png(image: &DynamicImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

/// A JPEG with an EXIF APP1 segment that sets `orientation`.
fn jpeg_with_orientation(image: &RgbImage, orientation: u16) -> Vec<u8> {
    let bytes = jpeg(image);
    let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&bytes[2..]);
    out
}

/// A tiny PNG whose header declares `width` x `height`: a few bytes of compressed data
/// that would inflate to gigabytes.
fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let crc = hostile::crc32(&ihdr);
    let mut out = b"\x89PNG\r\n\x1a\n\0\0\0\x0d".to_vec();
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc.to_be_bytes());
    let idat = b"IDAT\x78\x9c\x03\x00\x00\x00\x00\x01";
    out.extend_from_slice(&8u32.to_be_bytes());
    out.extend_from_slice(idat);
    out.extend_from_slice(&hostile::crc32(idat).to_be_bytes());
    out.extend_from_slice(b"\0\0\0\0IEND\xae\x42\x60\x82");
    out
}

fn sizes(rendition: &Rendition) -> Vec<(u32, u32)> {
    rendition
        .variants
        .iter()
        .map(|v| (v.width, v.height))
        .collect()
}

fn decoded(variant: &Rendered) -> DynamicImage {
    image::load_from_memory(&variant.bytes).unwrap()
}

/// The HEIC fixture with its image spatial extents (`ispe`) claiming another size.
fn heic_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = TWO_COLOURS_HEIC.to_vec();
    let at = bytes.windows(4).position(|w| w == b"ispe").unwrap() + 8;
    bytes[at..at + 4].copy_from_slice(&width.to_be_bytes());
    bytes[at + 4..at + 8].copy_from_slice(&height.to_be_bytes());
    bytes
}

/// The processor budgets a HEIC's memory from the size its boxes declare, read without
/// libheif; a damaged file gives none, never a panic.
#[test]
fn a_heics_declared_size_is_read_from_its_boxes() {
    assert_eq!(
        decode::declared_pixels(&heic_declaring(20_000, 30_000)),
        Some(600_000_000)
    );
    for end in 0..TWO_COLOURS_HEIC.len() {
        let _ = decode::declared_pixels(&TWO_COLOURS_HEIC[..end]);
    }
    for at in 0..TWO_COLOURS_HEIC.len() {
        let mut damaged = TWO_COLOURS_HEIC.to_vec();
        damaged[at] ^= 0xFF;
        let _ = decode::declared_pixels(&damaged);
    }
}

#[test]
fn hostile_files_are_refused_with_a_reason() {
    let real = jpeg(&photo(64, 64));
    let mut random_jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    random_jpeg.extend((0..4000u32).map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8));
    type Expected = fn(&Rejection) -> bool;
    let cases: Vec<(&str, Vec<u8>, Expected)> = vec![
        ("zero bytes", vec![], |r| *r == Rejection::Empty),
        ("truncated JPEG", real[..real.len() / 2].to_vec(), |r| {
            matches!(r, Rejection::Corrupt(_))
        }),
        ("random bytes as JPEG", random_jpeg, |r| {
            matches!(r, Rejection::Corrupt(_))
        }),
        ("text", b"just some text, not an image".to_vec(), |r| {
            *r == Rejection::NotAnImage
        }),
        (
            "HTML",
            b"<!doctype html><html><body><img src=x></body></html>".to_vec(),
            |r| *r == Rejection::NotAnImage,
        ),
        (
            "SVG",
            br#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>"#.to_vec(),
            |r| *r == Rejection::NotAnImage,
        ),
        (
            "truncated HEIC",
            TWO_COLOURS_HEIC[..TWO_COLOURS_HEIC.len() / 2].to_vec(),
            |r| matches!(r, Rejection::Corrupt(_)),
        ),
        (
            "HEIC declaring 20000 x 20000",
            heic_declaring(20_000, 20_000),
            |r| {
                *r == Rejection::TooManyPixels {
                    width: 20_000,
                    height: 20_000,
                    limit: 50_000_000,
                }
            },
        ),
        (
            "HEIC declaring 100000 x 100000 (past libheif's own limit)",
            heic_declaring(100_000, 100_000),
            |r| matches!(r, Rejection::Corrupt(reason) if reason.contains("exceeds the maximum")),
        ),
        (
            "PNG declaring 100000 x 100000",
            png_bomb(100_000, 100_000),
            |r| {
                *r == Rejection::TooManyPixels {
                    width: 100_000,
                    height: 100_000,
                    limit: 50_000_000,
                }
            },
        ),
    ];
    for (case, bytes, expected) in cases {
        match render(&bytes, LIMITS) {
            Err(rejection) => {
                assert!(
                    expected(&rejection),
                    "{case}: refused, but as {rejection:?}"
                );
                assert!(!rejection.to_string().is_empty());
            }
            Ok(rendition) => panic!("{case}: rendered {:?}", sizes(&rendition)),
        }
    }
}

#[test]
fn a_large_jpeg_gives_four_bounded_jpeg_variants_without_metadata() {
    let bytes = jpeg_with_orientation(&photo(3200, 1800), 1);
    let rendition = render(&bytes, LIMITS).unwrap();
    assert_eq!((rendition.width, rendition.height), (3200, 1800));
    assert_eq!(
        sizes(&rendition),
        [(150, 84), (320, 180), (800, 450), (1600, 900)]
    );
    for variant in &rendition.variants {
        assert_eq!(variant.content_type, "image/jpeg");
        assert!(
            !variant.bytes.windows(4).any(|w| w == b"Exif"),
            "{:?} carries EXIF",
            variant.name
        );
        let image = decoded(variant);
        assert_eq!(
            (image.width(), image.height()),
            (variant.width, variant.height)
        );
    }
}

/// Uniform colour noise, the worst case for WebP and AVIF beside JPEG: detail at every scale
/// that their smoothing cannot keep at the same look.
fn noise(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let hash =
            (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).wrapping_mul(2_246_822_519);
        Rgb([(hash >> 8) as u8, (hash >> 16) as u8, (hash >> 24) as u8])
    })
}

#[test]
fn every_format_offered_is_lighter_than_its_variant_and_of_the_same_size_and_orientation() {
    let rendition = render(&jpeg_with_orientation(&photo(1200, 800), 6), LIMITS).unwrap();
    let later = variants::later_formats(&rendition.later).unwrap();
    assert!(later.quality.is_some());
    let later: std::collections::BTreeMap<_, _> = later.formats.into_iter().collect();
    assert!(
        later.contains_key(&VariantName::Large),
        "a smooth photo's large AVIF is lighter than its JPEG"
    );
    for variant in &rendition.variants {
        let offered = variant.alternates.iter().chain(later.get(&variant.name));
        for alternate in offered {
            let most = match alternate.content_type {
                "image/webp" => variants::WEBP_MOST,
                _ => variants::AVIF_MOST,
            };
            assert!(
                variants::lighter(variant.bytes.len(), alternate.bytes.len(), most),
                "{:?} {}: {} bytes against the JPEG's {}",
                variant.name,
                alternate.content_type,
                alternate.bytes.len(),
                variant.bytes.len()
            );
            let (width, height) = match alternate.content_type {
                "image/webp" => {
                    let image = image::load_from_memory_with_format(
                        &alternate.bytes,
                        image::ImageFormat::WebP,
                    )
                    .unwrap();
                    (image.width(), image.height())
                }
                _ => {
                    let image = libavif::decode_rgb(&alternate.bytes).unwrap();
                    (image.width(), image.height())
                }
            };
            assert_eq!((width, height), (variant.width, variant.height));
        }
        assert!(variant.height > variant.width, "turned upright");
    }
}

#[test]
fn a_variant_whose_alternate_would_be_heavier_lists_none() {
    let rendition = render(&jpeg(&noise(1200, 800)), LIMITS).unwrap();
    let large = rendition.variants.last().unwrap();
    let pixels = &rendition.later[0];
    assert_eq!(pixels.name, VariantName::Large);
    // What the WebP would have been: the large variant's pixels at the photo's WebP quality.
    let webp = variants::webp(
        &pixels.rgb,
        pixels.width,
        pixels.height,
        false,
        f32::from(rendition.qualities.webp),
    )
    .unwrap();
    assert!(
        !variants::lighter(large.bytes.len(), webp.len(), variants::WEBP_MOST),
        "the WebP would be {} bytes against the JPEG's {}",
        webp.len(),
        large.bytes.len()
    );
    for variant in &rendition.variants {
        assert!(
            variant.alternates.is_empty(),
            "{:?} offers {:?}",
            variant.name,
            variant
                .alternates
                .iter()
                .map(|a| a.content_type)
                .collect::<Vec<_>>()
        );
    }
    let later = variants::later_formats(&rendition.later).unwrap();
    assert!(
        later
            .formats
            .iter()
            .all(|(name, _)| *name != VariantName::Large),
        "the large AVIF is heavier than its JPEG and is not offered"
    );
}

#[test]
fn each_photo_gets_the_lowest_qualities_that_reach_one_look() {
    let smooth = render(&jpeg(&photo(1200, 800)), LIMITS).unwrap();
    let busy = render(&jpeg(&noise(1200, 800)), LIMITS).unwrap();
    let (smooth_jpeg, busy_jpeg) = (smooth.qualities.jpeg.unwrap(), busy.qualities.jpeg.unwrap());
    assert!(
        smooth_jpeg + 10 <= busy_jpeg,
        "a smooth photo needs a lower JPEG quality ({smooth_jpeg}) than a busy one ({busy_jpeg})"
    );
    // On the sample the search ran on, each format reaches the target, and a few qualities
    // lower does not.
    let small = &busy.later[2];
    assert_eq!(small.name, VariantName::Small);
    let sample = quality::Sample::new(&small.rgb, small.width, small.height, false).unwrap();
    for found in [
        sample.jpeg().unwrap(),
        sample.webp(None).unwrap(),
        sample.avif().unwrap(),
    ] {
        assert!(found.score >= quality::TARGET, "{found:?}");
    }
    let jpeg = variants::jpeg(&small.rgb, small.width, small.height, busy_jpeg - 4).unwrap();
    let decoded = turbojpeg::decompress(&jpeg, turbojpeg::PixelFormat::RGB).unwrap();
    assert!(sample.score(&decoded.pixels, false).unwrap() < quality::TARGET);
}

#[test]
fn the_placeholder_sketches_the_image() {
    let red = RgbImage::from_pixel(640, 480, Rgb([200, 30, 30]));
    let rendition = render(&jpeg(&red), LIMITS).unwrap();
    let placeholder = &rendition.placeholder;
    let colour = u32::from_str_radix(&placeholder.dominant_color[1..], 16).unwrap();
    let [r, g, b] = [colour >> 16, (colour >> 8) & 0xff, colour & 0xff];
    assert!(
        r > 180 && g < 60 && b < 60,
        "{}",
        placeholder.dominant_color
    );
    assert!(!placeholder.thumbhash.is_empty());
}

#[test]
fn a_small_image_is_never_upscaled() {
    let rendition = render(&jpeg(&photo(200, 100)), LIMITS).unwrap();
    assert_eq!(
        sizes(&rendition),
        [(150, 75), (200, 100), (200, 100), (200, 100)]
    );
}

#[test]
fn exif_orientation_6_and_8_turn_the_image_upright() {
    // Landscape pixels, stored sideways: the left column is dark, the right bright.
    let stored = photo(400, 200);
    for orientation in [6u16, 8] {
        let rendition = render(&jpeg_with_orientation(&stored, orientation), LIMITS).unwrap();
        assert_eq!(
            (rendition.width, rendition.height),
            (200, 400),
            "orientation {orientation}"
        );
        let large = decoded(rendition.variants.last().unwrap()).to_rgb8();
        assert_eq!(large.dimensions(), (200, 400));
        // 6 turns clockwise: the stored left (dark red) ends on top; 8 puts it at the bottom.
        let top = large.get_pixel(100, 5)[0];
        let bottom = large.get_pixel(100, 394)[0];
        if orientation == 6 {
            assert!(top < bottom, "orientation 6: top {top} bottom {bottom}");
        } else {
            assert!(top > bottom, "orientation 8: top {top} bottom {bottom}");
        }
    }
}

#[test]
fn a_cmyk_jpeg_comes_out_in_rgb_with_its_colours() {
    // Adobe CMYK JPEGs store inverted inks: 255 is no ink. Pure cyan: no red, full green/blue.
    let cmyk: Vec<u8> = [0u8, 255, 255, 255].repeat(64 * 64);
    let image = turbojpeg::Image {
        pixels: cmyk.as_slice(),
        width: 64,
        pitch: 64 * 4,
        height: 64,
        format: turbojpeg::PixelFormat::CMYK,
    };
    let mut compressor = turbojpeg::Compressor::new().unwrap();
    compressor.set_quality(95).unwrap();
    let bytes = compressor.compress_to_vec(image).unwrap();
    let rendition = render(&bytes, LIMITS).unwrap();
    let pixel = *decoded(&rendition.variants[0]).to_rgb8().get_pixel(10, 10);
    assert!(
        pixel[0] < 40 && pixel[1] > 215 && pixel[2] > 215,
        "cyan came out as {pixel:?}"
    );
}

#[test]
fn grayscale_and_16_bit_pngs_render() {
    let gray = DynamicImage::ImageLuma8(image::GrayImage::from_fn(500, 300, |x, _| {
        image::Luma([(x % 256) as u8])
    }));
    let deep = DynamicImage::ImageRgb16(image::ImageBuffer::from_fn(300, 500, |x, y| {
        Rgb([(x * 200) as u16, (y * 100) as u16, 40_000])
    }));
    for (case, bytes, expected) in [
        ("grayscale PNG", png(&gray), (500, 300)),
        ("16-bit PNG", png(&deep), (300, 500)),
        (
            "grayscale JPEG",
            jpeg(&DynamicImage::ImageLuma8(gray.to_luma8()).to_rgb8()),
            (500, 300),
        ),
    ] {
        let rendition = render(&bytes, LIMITS).unwrap_or_else(|r| panic!("{case}: {r}"));
        assert_eq!((rendition.width, rendition.height), expected, "{case}");
        assert_eq!(rendition.variants[0].content_type, "image/jpeg", "{case}");
    }
}

#[test]
fn a_large_webp_is_decoded_at_the_largest_variants_size() {
    let source = photo(3200, 1800);
    let webp = variants::webp(source.as_raw(), 3200, 1800, false, 90.0).unwrap();
    let decoded = decode::decode(&webp, LIMITS, VariantName::Large.max_side()).unwrap();
    assert_eq!(decoded.original, (3200, 1800));
    assert_eq!(
        (decoded.image.width(), decoded.image.height()),
        (1600, 900),
        "scaled while decoding"
    );
    let rendition = render(&webp, LIMITS).unwrap();
    assert_eq!(
        sizes(&rendition),
        [(150, 84), (320, 180), (800, 450), (1600, 900)]
    );
    // The gradient survives the scaling: red grows left to right, green top to bottom.
    let large = decoded.image.to_rgb8();
    let (left, right) = (large.get_pixel(10, 450)[0], large.get_pixel(1590, 450)[0]);
    let (top, bottom) = (large.get_pixel(800, 10)[1], large.get_pixel(800, 890)[1]);
    assert!(left < 20 && right > 235, "red {left} to {right}");
    assert!(top < 20 && bottom > 235, "green {top} to {bottom}");
}

#[test]
fn a_heic_from_a_phone_renders_upright_with_its_colours() {
    assert_eq!(decode::declared_pixels(TWO_COLOURS_HEIC), Some(320 * 200));
    let rendition = render(TWO_COLOURS_HEIC, LIMITS).unwrap();
    assert_eq!((rendition.width, rendition.height), (320, 200));
    let thumb = &rendition.variants[0];
    assert_eq!(thumb.content_type, "image/jpeg");
    let pixels = decoded(thumb).to_rgb8();
    assert_eq!((pixels.width(), pixels.height()), (150, 94));
    let near = |pixel: &Rgb<u8>, [r, g, b]: [i32; 3]| {
        let [pr, pg, pb] = pixel.0.map(i32::from);
        (pr - r).abs() < 30 && (pg - g).abs() < 30 && (pb - b).abs() < 30
    };
    assert!(
        near(pixels.get_pixel(20, 47), [200, 30, 30]),
        "{:?}",
        pixels.get_pixel(20, 47)
    );
    assert!(
        near(pixels.get_pixel(130, 47), [30, 60, 200]),
        "{:?}",
        pixels.get_pixel(130, 47)
    );
    let formats: Vec<_> = thumb.alternates.iter().map(|a| a.content_type).collect();
    assert_eq!(formats, ["image/webp"]);
    assert_eq!(rendition.later.len(), 4, "its AVIF comes later");
}

#[test]
fn transparency_is_kept() {
    let logo = DynamicImage::ImageRgba8(RgbaImage::from_fn(400, 400, |x, _| {
        if x < 200 {
            Rgba([255, 0, 0, 255])
        } else {
            Rgba([0, 0, 0, 0])
        }
    }));
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .write_image(logo.as_bytes(), 400, 400, image::ExtendedColorType::Rgba8)
        .unwrap();
    for (case, bytes) in [("PNG", png(&logo)), ("WebP", webp)] {
        let rendition = render(&bytes, LIMITS).unwrap_or_else(|r| panic!("{case}: {r}"));
        let thumb = &rendition.variants[0];
        assert_eq!(thumb.content_type, "image/png", "{case}");
        let formats: Vec<_> = thumb.alternates.iter().map(|a| a.content_type).collect();
        assert_eq!(formats, ["image/webp"], "{case}");
        assert!(
            rendition.later.is_empty(),
            "{case}: no AVIF without its alpha"
        );
        let pixels = decoded(thumb).to_rgba8();
        assert_eq!(
            pixels.get_pixel(140, 75)[3],
            0,
            "{case}: the clear half stays clear, not black"
        );
        assert_eq!(*pixels.get_pixel(10, 75), Rgba([255, 0, 0, 255]), "{case}");
    }
}

#[test]
fn an_animated_gif_gives_its_first_frame() {
    let mut bytes = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut bytes);
        for colour in [[0u8, 0, 255, 255], [255, 255, 0, 255]] {
            let frame = image::Frame::new(RgbaImage::from_pixel(60, 40, Rgba(colour)));
            encoder.encode_frame(frame).unwrap();
        }
    }
    let rendition = render(&bytes, LIMITS).unwrap();
    assert_eq!((rendition.width, rendition.height), (60, 40));
    let first = decoded(&rendition.variants[0]).to_rgb8();
    let pixel = first.get_pixel(30, 20);
    assert!(
        pixel[2] > 200 && pixel[0] < 60,
        "the first (blue) frame, got {pixel:?}"
    );
}

/// Inputs the fuzzer (`images/fuzz`) found that once hurt the processor, with the refusal
/// each gets now.
#[test]
fn fuzzer_findings_stay_fixed() {
    // A 391-byte WebP whose EXIF chunk claims 2.6 GB: the decoder allocated it before reading.
    let bytes = include_bytes!("../fuzz/regressions/webp-exif-chunk-claims-2-6-gb.webp");
    assert_eq!(
        render(bytes, LIMITS).unwrap_err(),
        Rejection::Corrupt("a WebP chunk is larger than the file".into())
    );
}

#[test]
fn a_jpeg_with_thousands_of_scans_is_refused_quickly() {
    let bytes = hostile::jpeg_with_scans(&photo(640, 480), 3000);
    let started = std::time::Instant::now();
    assert_eq!(
        render(&bytes, LIMITS).unwrap_err(),
        Rejection::TooManyScans { limit: 100 }
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // A progressive JPEG with a normal number of scans renders.
    assert!(render(&hostile::jpeg_with_scans(&photo(640, 480), 0), LIMITS).is_ok());
}

#[test]
fn a_png_whose_colour_profile_inflates_to_50_mb_is_refused() {
    let bytes = hostile::png_with_profile(50 << 20);
    assert!(bytes.len() < 200_000, "{} bytes", bytes.len());
    assert_eq!(
        render(&bytes, LIMITS).unwrap_err(),
        Rejection::ProfileTooLarge { limit: 4 << 20 }
    );
    // A profile of ordinary size is read (and, being no real profile, ignored).
    assert!(render(&hostile::png_with_profile(3000), LIMITS).is_ok());
}
