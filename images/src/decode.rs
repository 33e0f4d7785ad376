//! From bytes to sRGB pixels, refusing what is not a safe image before decoding it.

use std::io::Cursor;

use catalog_events::media::MediaType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use turbojpeg::{Colorspace, Decompressor, PixelFormat, ScalingFactor};

use super::{Limits, Rejection};

/// What reading a header may allocate (its metadata: a PNG's inflated ICC profile, say).
const HEADER_ALLOC_BYTES: u64 = 16 << 20;
/// The largest colour profile read: real ones are kilobytes, a few hundred at most.
pub(crate) const MAX_ICC_BYTES: usize = 4 << 20;
/// The most scans a progressive JPEG may have (libjpeg-turbo's advice): each is a pass over
/// the whole image, and a crafted file can hold thousands of them.
const MAX_JPEG_SCANS: u32 = 100;

/// The `image` crate's name for a format; HEIF is read by libheif instead ([`super::heif`]).
fn image_format(format: MediaType) -> Option<ImageFormat> {
    match format {
        MediaType::Jpeg => Some(ImageFormat::Jpeg),
        MediaType::Png => Some(ImageFormat::Png),
        MediaType::WebP => Some(ImageFormat::WebP),
        MediaType::Gif => Some(ImageFormat::Gif),
        MediaType::Heic | MediaType::Heif => None,
    }
}

/// Decoded pixels in sRGB, not yet oriented.
pub struct Decoded {
    /// RGB8 or RGBA8.
    pub image: DynamicImage,
    /// EXIF orientation to apply for display.
    pub orientation: image::metadata::Orientation,
    /// The original's width and height as stored (before orientation).
    pub original: (u32, u32),
}

/// The pixels an image declares in its header, if it is one the processor reads. Read in Rust
/// only (the `image` crate's header readers, [`super::heif_size`]): the processor calls it in
/// its own process, before the decode.
pub fn declared_pixels(bytes: &[u8]) -> Option<u64> {
    let (width, height) = match image_format(MediaType::sniff(bytes)?) {
        Some(format) => ImageReader::with_format(Cursor::new(bytes), format)
            .into_dimensions()
            .ok()?,
        None => super::heif_size::dimensions(bytes)?,
    };
    Some(u64::from(width) * u64::from(height))
}

/// The pixels of an image of this size, refused if more than the limit or none.
pub(crate) fn within(width: u32, height: u32, limits: Limits) -> Result<u64, Rejection> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(Rejection::TooManyPixels {
            width: width.into(),
            height: height.into(),
            limit: limits.max_pixels,
        });
    }
    if pixels == 0 {
        return Err(Rejection::Corrupt("it has no pixels".into()));
    }
    Ok(pixels)
}

/// Decodes `bytes` at a size whose longest side still covers `cover` pixels where the
/// format allows decoding at a reduced scale.
pub fn decode(bytes: &[u8], limits: Limits, cover: u32) -> Result<Decoded, Rejection> {
    if bytes.is_empty() {
        return Err(Rejection::Empty);
    }
    let format = MediaType::sniff(bytes).ok_or(Rejection::NotAnImage)?;
    let Some(reader_format) = image_format(format) else {
        return super::heif::decode(bytes, limits);
    };
    match format {
        MediaType::WebP => webp_chunks_fit(bytes)?,
        MediaType::Png => png_profile_fits(bytes)?,
        MediaType::Jpeg | MediaType::Gif | MediaType::Heic | MediaType::Heif => {}
    }
    // Reading the header may inflate metadata (a PNG's ICC profile is compressed): it gets a
    // small budget of its own, before the image's size is known.
    let mut reader = ImageReader::with_format(Cursor::new(bytes), reader_format);
    let mut header_limits = image::Limits::default();
    header_limits.max_alloc = Some(HEADER_ALLOC_BYTES);
    reader.limits(header_limits);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    let pixels = within(width, height, limits)?;
    // Limits first: metadata readers trust chunk sizes (a 400-byte WebP can claim a 2.6 GB
    // EXIF chunk, which the fuzzer found), and the decoders check allocations against these.
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(pixels * 8 + (64 << 20));
    decoder.set_limits(limits).map_err(corrupt)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let icc = decoder.icc_profile().ok().flatten();
    if icc.as_ref().is_some_and(|icc| icc.len() > MAX_ICC_BYTES) {
        return Err(Rejection::ProfileTooLarge {
            limit: MAX_ICC_BYTES,
        });
    }
    let image = match format {
        MediaType::Jpeg => {
            drop(decoder);
            jpeg(bytes, icc.as_deref(), cover)?
        }
        // libwebp, twice as fast as the `image` crate's decoder at full size, and scaling
        // while it decodes to the largest variant's size; an animation (which it does not
        // decode) goes to the `image` crate, for its first frame.
        MediaType::WebP => {
            let (scaled_width, scaled_height) = super::variants::fit(width, height, cover);
            let alpha = decoder.color_type().has_alpha();
            match super::libwebp::decode(bytes, scaled_width, scaled_height, alpha) {
                Some(image) => to_srgb(image, icc.as_deref()),
                None => to_srgb(whole(decoder)?, icc.as_deref()),
            }
        }
        MediaType::Png | MediaType::Gif | MediaType::Heic | MediaType::Heif => {
            to_srgb(whole(decoder)?, icc.as_deref())
        }
    };
    Ok(Decoded {
        image,
        orientation,
        original: (width, height),
    })
}

/// The image a decoder of the `image` crate reads, as 8-bit RGB or RGBA.
fn whole(decoder: impl ImageDecoder) -> Result<DynamicImage, Rejection> {
    let image = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    Ok(if image.color().has_alpha() {
        DynamicImage::ImageRgba8(image.into_rgba8())
    } else {
        DynamicImage::ImageRgb8(image.into_rgb8())
    })
}

/// Refuses a WebP whose chunks claim more bytes than the file has. The WebP decoder allocates a
/// metadata chunk at its declared size before reading it (and ignores memory limits there), so
/// a few hundred bytes could otherwise claim gigabytes; the fuzzer found this.
fn webp_chunks_fit(bytes: &[u8]) -> Result<(), Rejection> {
    let mut rest = bytes.get(12..).unwrap_or_default();
    while rest.len() >= 8 {
        let size = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        if size > rest.len() - 8 {
            return Err(Rejection::Corrupt(
                "a WebP chunk is larger than the file".into(),
            ));
        }
        // Chunks are padded to an even size; some writers leave out the last padding byte.
        rest = rest.get(8 + size + (size & 1)..).unwrap_or_default();
    }
    Ok(())
}

/// Refuses a PNG whose colour profile (`iCCP`, compressed) inflates past [`MAX_ICC_BYTES`]:
/// a few kilobytes of zeros can claim a profile of gigabytes, which the PNG decoder would
/// inflate while reading the header. Reads the chunks before the image data only.
fn png_profile_fits(bytes: &[u8]) -> Result<(), Rejection> {
    let mut rest = bytes.get(8..).unwrap_or_default();
    while rest.len() >= 8 {
        let size = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let kind = &rest[4..8];
        let Some(data) = rest.get(8..8 + size) else {
            return Ok(()); // truncated: the decoder says so
        };
        match kind {
            b"IDAT" | b"IEND" => return Ok(()),
            b"iCCP" => {
                // A name of 1 to 79 bytes, a NUL, the method (0: zlib), the profile.
                let compressed = data
                    .iter()
                    .position(|&byte| byte == 0)
                    .and_then(|nul| data.get(nul + 2..))
                    .unwrap_or_default();
                if miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(
                    compressed,
                    MAX_ICC_BYTES,
                )
                .is_err_and(|error| {
                    error.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput
                }) {
                    return Err(Rejection::ProfileTooLarge {
                        limit: MAX_ICC_BYTES,
                    });
                }
            }
            _ => {}
        }
        rest = rest.get(12 + size..).unwrap_or_default();
    }
    Ok(())
}

/// A JPEG through libjpeg-turbo, scaled in the DCT to the smallest size that covers `cover`.
fn jpeg(bytes: &[u8], icc: Option<&[u8]>, cover: u32) -> Result<DynamicImage, Rejection> {
    let mut decompressor = Decompressor::new().map_err(corrupt)?;
    decompressor
        .set_scan_limit(MAX_JPEG_SCANS)
        .map_err(corrupt)?;
    let header = decompressor.read_header(bytes).map_err(corrupt)?;
    let longest = header.width.max(header.height);
    let wanted = longest.min(cover as usize);
    let factor = Decompressor::supported_scaling_factors()
        .into_iter()
        .filter(|factor| factor.num() <= factor.denom() && factor.scale(longest) >= wanted)
        .min_by(|a, b| (a.num() * b.denom()).cmp(&(b.num() * a.denom())))
        .unwrap_or(ScalingFactor::ONE);
    decompressor.set_scaling_factor(factor).map_err(corrupt)?;
    let scaled = header.scaled(factor);
    let cmyk = matches!(header.colorspace, Colorspace::CMYK | Colorspace::YCCK);
    let format = if cmyk {
        PixelFormat::CMYK
    } else {
        PixelFormat::RGB
    };
    let channels = format.size();
    let mut pixels = vec![0u8; scaled.width * scaled.height * channels];
    let image = turbojpeg::Image {
        pixels: pixels.as_mut_slice(),
        width: scaled.width,
        pitch: scaled.width * channels,
        height: scaled.height,
        format,
    };
    decompressor.decompress(bytes, image).map_err(|error| {
        if error.to_string().contains("scans") {
            Rejection::TooManyScans {
                limit: MAX_JPEG_SCANS,
            }
        } else {
            corrupt(error)
        }
    })?;
    let (width, height) = (to_u32(scaled.width)?, to_u32(scaled.height)?);
    let rgb = if cmyk {
        cmyk_to_srgb(&pixels, icc)
    } else {
        pixels
    };
    let image = image::RgbImage::from_raw(width, height, rgb)
        .ok_or_else(|| Rejection::Corrupt("the decoded size is inconsistent".into()))?;
    Ok(if cmyk {
        DynamicImage::ImageRgb8(image)
    } else {
        to_srgb(DynamicImage::ImageRgb8(image), icc)
    })
}

/// CMYK (as Adobe writes it in JPEGs: inverted) to sRGB, through the embedded profile when
/// there is one that Little CMS reads, else by the plain formula.
fn cmyk_to_srgb(cmyk: &[u8], icc: Option<&[u8]>) -> Vec<u8> {
    let transform = icc
        .and_then(|icc| lcms2::Profile::new_icc(icc).ok())
        .filter(|profile| profile.color_space() == lcms2::ColorSpaceSignature::CmykData)
        .and_then(|profile| {
            lcms2::Transform::<[u8; 4], [u8; 3]>::new(
                &profile,
                lcms2::PixelFormat::CMYK_8_REV,
                &lcms2::Profile::new_srgb(),
                lcms2::PixelFormat::RGB_8,
                lcms2::Intent::Perceptual,
            )
            .ok()
        });
    let pixels: Vec<[u8; 4]> = cmyk
        .chunks_exact(4)
        .map(|p| [p[0], p[1], p[2], p[3]])
        .collect();
    let mut rgb = vec![[0u8; 3]; pixels.len()];
    match transform {
        Some(transform) => transform.transform_pixels(&pixels, &mut rgb),
        None => {
            for (out, [c, m, y, k]) in rgb.iter_mut().zip(&pixels) {
                let k = u16::from(*k);
                *out = [c, m, y].map(|ink| ((u16::from(*ink) * k + 127) / 255) as u8);
            }
        }
    }
    rgb.into_flattened()
}

/// Converts RGB(A) pixels tagged with a profile other than sRGB to sRGB.
pub(crate) fn to_srgb(image: DynamicImage, icc: Option<&[u8]>) -> DynamicImage {
    let Some(profile) = icc.and_then(|icc| lcms2::Profile::new_icc(icc).ok()) else {
        return image;
    };
    if profile.color_space() != lcms2::ColorSpaceSignature::RgbData || is_srgb(&profile) {
        return image;
    }
    let srgb = lcms2::Profile::new_srgb();
    match image {
        DynamicImage::ImageRgb8(mut rgb) => {
            if let Ok(transform) = lcms2::Transform::<[u8; 3], [u8; 3]>::new(
                &profile,
                lcms2::PixelFormat::RGB_8,
                &srgb,
                lcms2::PixelFormat::RGB_8,
                lcms2::Intent::Perceptual,
            ) {
                let pixels: &mut [[u8; 3]] = rgb.as_flat_samples_mut().samples.as_chunks_mut().0;
                transform.transform_in_place(pixels);
            }
            DynamicImage::ImageRgb8(rgb)
        }
        DynamicImage::ImageRgba8(mut rgba) => {
            if let Ok(transform) = lcms2::Transform::<[u8; 4], [u8; 4]>::new(
                &profile,
                lcms2::PixelFormat::RGBA_8,
                &srgb,
                lcms2::PixelFormat::RGBA_8,
                lcms2::Intent::Perceptual,
            ) {
                let pixels: &mut [[u8; 4]] = rgba.as_flat_samples_mut().samples.as_chunks_mut().0;
                transform.transform_in_place(pixels);
            }
            DynamicImage::ImageRgba8(rgba)
        }
        other => other,
    }
}

fn is_srgb(profile: &lcms2::Profile) -> bool {
    profile
        .info(lcms2::InfoType::Description, lcms2::Locale::none())
        .is_some_and(|description| description.to_ascii_lowercase().contains("srgb"))
}

fn to_u32(value: usize) -> Result<u32, Rejection> {
    u32::try_from(value).map_err(|_| Rejection::Corrupt("the image is too large".into()))
}

fn corrupt(error: impl std::fmt::Display) -> Rejection {
    Rejection::Corrupt(error.to_string())
}
