//! Hostile files, made on the spot, for the tests of this crate and of the whole service
//! (`features = ["testing"]`): the processor must refuse each with a reason, quickly.

use image::{ImageEncoder, RgbImage};

/// A file on which the decoder process crashes (`SIGSEGV`), as one whose memory an exploit
/// corrupted would: built with the `testing` feature, it does so on these bytes.
pub const CRASHES_THE_DECODER: &[u8] = b"catalog-images testing: crash the decoder process";

/// A progressive JPEG of `image` whose last scan is repeated `copies` times: every scan is a
/// pass over the whole image, so thousands of them hold a decoder for as long as the file's
/// author likes.
pub fn jpeg_with_scans(image: &RgbImage, copies: usize) -> Vec<u8> {
    let mut compressor = turbojpeg::Compressor::new().expect("a compressor");
    compressor.set_progressive(true).expect("progressive");
    compressor.set_quality(80).expect("a quality");
    let progressive = compressor
        .compress_to_vec(turbojpeg::Image {
            pixels: image.as_raw().as_slice(),
            width: image.width() as usize,
            pitch: image.width() as usize * 3,
            height: image.height() as usize,
            format: turbojpeg::PixelFormat::RGB,
        })
        .expect("a JPEG");
    // The last scan runs from its SOS marker to the EOI at the end.
    let last_scan = progressive
        .windows(2)
        .rposition(|marker| marker == [0xFF, 0xDA])
        .unwrap_or(0);
    let end = progressive.len() - 2;
    let mut bytes = progressive[..end].to_vec();
    for _ in 0..copies {
        bytes.extend_from_slice(&progressive[last_scan..end]);
    }
    bytes.extend_from_slice(&[0xFF, 0xD9]);
    bytes
}

/// A small PNG with an `iCCP` chunk that inflates to `inflated` bytes (of zeros: a few
/// kilobytes compressed, whatever it inflates to).
pub fn png_with_profile(inflated: usize) -> Vec<u8> {
    let image = RgbImage::from_fn(32, 32, |x, y| {
        image::Rgb([(x * 8) as u8, (y * 8) as u8, 90])
    });
    let mut plain = Vec::new();
    image::codecs::png::PngEncoder::new(&mut plain)
        .write_image(image.as_raw(), 32, 32, image::ExtendedColorType::Rgb8)
        .expect("a PNG");
    let mut chunk = b"iCCP".to_vec();
    chunk.extend_from_slice(b"bomb\0\0");
    chunk.extend_from_slice(&miniz_oxide::deflate::compress_to_vec_zlib(
        &vec![0u8; inflated],
        9,
    ));
    let data_length = u32::try_from(chunk.len() - 4).unwrap_or(u32::MAX);
    // Right after IHDR (8 signature bytes, 25 of IHDR).
    let mut out = plain[..33].to_vec();
    out.extend_from_slice(&data_length.to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    out.extend_from_slice(&plain[33..]);
    out
}

/// The CRC of a PNG chunk (its type and data).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
