//! HEIF input: HEIC, what iPhone cameras save by default, through Debian's libheif (and its
//! HEVC decoder, libde265). The image is decoded whole: libheif has no reduced-scale decode.
//! libheif applies the file's rotation and mirroring (`irot`, `imir`) while decoding, as the
//! format requires, so the pixels come out upright and the EXIF orientation, which HEIF files
//! may carry as well, is not applied again.

use image::metadata::Orientation;
use image::{DynamicImage, RgbImage, RgbaImage};
use libheif_rs::{ColorSpace, HeifContext, HeifError, RgbChroma};

use super::decode::{Decoded, MAX_ICC_BYTES, to_srgb, within};
use super::{Limits, Rejection};

/// Decodes the primary image, once its size is within `limits`, to sRGB.
pub fn decode(bytes: &[u8], limits: Limits) -> Result<Decoded, Rejection> {
    let context = HeifContext::read_from_bytes(bytes).map_err(refused)?;
    let handle = context.primary_image_handle().map_err(refused)?;
    within(handle.width(), handle.height(), limits)?;
    // An ICC profile (`prof` or `rICC`); an `nclx` one (coded primaries) is read as sRGB.
    let icc = handle.color_profile_raw().map(|profile| profile.data);
    if icc.as_ref().is_some_and(|icc| icc.len() > MAX_ICC_BYTES) {
        return Err(Rejection::ProfileTooLarge {
            limit: MAX_ICC_BYTES,
        });
    }
    let alpha = handle.has_alpha_channel();
    let chroma = if alpha {
        RgbChroma::Rgba
    } else {
        RgbChroma::Rgb
    };
    let decoded = handle
        .decode(ColorSpace::Rgb(chroma), None)
        .map_err(refused)?;
    let planes = decoded.planes();
    let plane = planes
        .interleaved
        .ok_or_else(|| Rejection::Corrupt("libheif gave no RGB pixels".into()))?;
    let (width, height) = (plane.width, plane.height);
    let row = width as usize * if alpha { 4 } else { 3 };
    let mut pixels = Vec::with_capacity(row * height as usize);
    for line in plane.data.chunks(plane.stride.max(1)).take(height as usize) {
        let line = line
            .get(..row)
            .ok_or_else(|| Rejection::Corrupt("libheif gave a short row".into()))?;
        pixels.extend_from_slice(line);
    }
    let image = if alpha {
        RgbaImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgba8)
    } else {
        RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
    }
    .ok_or_else(|| Rejection::Corrupt("the decoded size is inconsistent".into()))?;
    Ok(Decoded {
        image: to_srgb(image, icc.as_deref()),
        orientation: Orientation::NoTransforms,
        original: (width, height),
    })
}

/// libheif's refusal, in its own words (without its error codes).
fn refused(error: HeifError) -> Rejection {
    Rejection::Corrupt(error.message.trim().to_owned())
}
