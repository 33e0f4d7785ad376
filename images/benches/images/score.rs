//! The two perceptual scores the bench gives every file: SSIMULACRA2, which the service
//! chooses its qualities by, and DSSIM, which it matched them by before, so that the two
//! can be compared on the same files.

use anyhow::Context;
use fast_ssim2::{PixelDescriptor, PixelSlice, compute_ssimulacra2};

use crate::measure::Pixels;

/// An encoded file's pixels, RGBA, decoded as browsers decode them: AVIF by libavif, WebP by
/// libwebp.
fn rgba(encoded: &[u8]) -> anyhow::Result<Vec<u8>> {
    if encoded.len() > 12 && &encoded[4..12] == b"ftypavif" {
        let pixels = libavif::decode_rgb(encoded)?;
        return Ok(pixels.to_vec());
    }
    if encoded.starts_with(b"RIFF") {
        let image = webp::Decoder::new(encoded)
            .decode()
            .context("decoding a WebP made")?;
        return Ok(image.to_image().into_rgba8().into_raw());
    }
    Ok(image::load_from_memory(encoded)
        .context("decoding a file made")?
        .into_rgba8()
        .into_raw())
}

/// The reference's pixels as RGBA.
fn reference_rgba(reference: &Pixels) -> Vec<u8> {
    if reference.alpha {
        return reference.pixels.clone();
    }
    reference
        .pixels
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect()
}

/// SSIMULACRA2 and DSSIM of an encoded file against the pixels it was made from.
pub fn both(reference: &Pixels, encoded: &[u8]) -> anyhow::Result<(f64, f64)> {
    let (width, height) = (reference.width, reference.height);
    let ours = reference_rgba(reference);
    let theirs = rgba(encoded)?;
    anyhow::ensure!(
        ours.len() == theirs.len(),
        "a file of another size ({} bytes of pixels against {})",
        theirs.len(),
        ours.len()
    );
    Ok((
        ssimulacra2(&ours, &theirs, width, height)?,
        dssim(&ours, &theirs, width, height)?,
    ))
}

pub fn ssimulacra2(a: &[u8], b: &[u8], width: u32, height: u32) -> anyhow::Result<f64> {
    let stride = width as usize * 4;
    let slice =
        |pixels| PixelSlice::new(pixels, width, height, stride, PixelDescriptor::RGBA8_SRGB);
    Ok(compute_ssimulacra2(&slice(a)?, &slice(b)?)?)
}

/// DSSIM (0 is identical).
pub fn dssim(a: &[u8], b: &[u8], width: u32, height: u32) -> anyhow::Result<f64> {
    let attr = dssim_core::Dssim::new();
    let pixels = |bytes: &[u8]| -> Vec<rgb::RGBA8> {
        bytes
            .chunks_exact(4)
            .map(|p| rgb::RGBA8::new(p[0], p[1], p[2], p[3]))
            .collect()
    };
    let (width, height) = (width as usize, height as usize);
    let first = attr
        .create_image_rgba(&pixels(a), width, height)
        .context("DSSIM image")?;
    let second = attr
        .create_image_rgba(&pixels(b), width, height)
        .context("DSSIM image")?;
    Ok(f64::from(attr.compare(&first, second).0))
}
