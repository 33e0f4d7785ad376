//! From decoded pixels to the four encoded variants.

use catalog_events::VariantName;
use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, ImageEncoder};

use super::decode::Decoded;
use super::placeholder::{self, Placeholder};
use super::{Alternate, Rejection, Rendered, Rendition};

/// JPEG quality of the variants; 4:2:0 chroma subsampling halves colour resolution, which
/// photographs do not show at this quality, for about a third fewer bytes.
const JPEG_QUALITY: i32 = 80;

/// libwebp's quality for the WebP variants: where their DSSIM against the image resized
/// without loss matches the JPEG's at [`JPEG_QUALITY`] on real photographs (`./dev bench
/// images`, 10 of Debian's wallpapers: JPEG 0.00126; WebP 0.00145 at 85, 0.00125 at 87,
/// 0.00116 at 88), for 0.78 of the JPEG's bytes.
pub const WEBP_QUALITY: f32 = 87.0;
/// libwebp's effort (0 fastest to 6 smallest).
pub const WEBP_METHOD: i32 = 4;

/// The size of a variant bounded by `bound` on its longest side, never larger than the source.
pub fn fit(width: u32, height: u32, bound: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= bound {
        return (width, height);
    }
    let scale = |side: u32| {
        ((u64::from(side) * u64::from(bound) + u64::from(longest) / 2) / u64::from(longest)).max(1)
            as u32
    };
    (scale(width), scale(height))
}

/// Resizes, orients and encodes every variant, largest first, each from the one before.
/// Sizes come from the original's dimensions, so a JPEG decoded at a reduced scale gives
/// exactly the variants the full image would.
pub fn render(decoded: Decoded) -> Result<Rendition, Rejection> {
    let Decoded {
        image,
        orientation,
        original,
    } = decoded;
    let alpha = image.color().has_alpha();
    let pixel_type = if alpha {
        PixelType::U8x4
    } else {
        PixelType::U8x3
    };
    let mut current = (image.width(), image.height());
    let pixels = if alpha {
        image.into_rgba8().into_raw()
    } else {
        image.into_rgb8().into_raw()
    };
    let mut source =
        Image::from_vec_u8(current.0, current.1, pixels, pixel_type).map_err(resize_error)?;
    let mut resizer = Resizer::new();
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
    let mut variants = Vec::with_capacity(VariantName::ALL.len());
    for name in VariantName::ALL.into_iter().rev() {
        let target = fit(original.0, original.1, name.max_side());
        let target = (target.0.min(current.0), target.1.min(current.1));
        if target != current {
            let mut resized = Image::new(target.0, target.1, pixel_type);
            resizer
                .resize(&source, &mut resized, &options)
                .map_err(resize_error)?;
            source = resized;
            current = target;
        }
        variants.push(encode(
            name,
            current.0,
            current.1,
            source.buffer(),
            alpha,
            orientation,
        )?);
    }
    variants.reverse();
    let placeholder = placeholder(&source, &mut resizer, &options, orientation)?;
    let (width, height) = if turns(orientation) {
        (original.1, original.0)
    } else {
        original
    };
    Ok(Rendition {
        width,
        height,
        variants,
        placeholder,
    })
}

/// The placeholder, from the smallest variant's pixels scaled to fit ThumbHash's bound.
fn placeholder(
    smallest: &Image<'_>,
    resizer: &mut Resizer,
    options: &ResizeOptions,
    orientation: Orientation,
) -> Result<Placeholder, Rejection> {
    let (width, height) = fit(smallest.width(), smallest.height(), placeholder::MAX_SIDE);
    let mut small = Image::new(width, height, smallest.pixel_type());
    resizer
        .resize(smallest, &mut small, options)
        .map_err(resize_error)?;
    let mut image = match small.pixel_type() {
        PixelType::U8x4 => image::RgbaImage::from_raw(width, height, small.into_vec())
            .map(DynamicImage::ImageRgba8),
        _ => {
            image::RgbImage::from_raw(width, height, small.into_vec()).map(DynamicImage::ImageRgb8)
        }
    }
    .ok_or_else(|| resize_error("a buffer of the wrong size"))?;
    image.apply_orientation(orientation);
    let rgba = image.into_rgba8();
    Ok(placeholder::of(rgba.width(), rgba.height(), rgba.as_raw()))
}

/// Whether an orientation swaps width and height.
fn turns(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

fn resize_error(error: impl std::fmt::Display) -> Rejection {
    Rejection::Corrupt(format!("resizing failed: {error}"))
}

/// Orients and encodes one variant: JPEG when opaque, PNG when it has transparency.
fn encode(
    name: VariantName,
    width: u32,
    height: u32,
    pixels: &[u8],
    alpha: bool,
    orientation: Orientation,
) -> Result<Rendered, Rejection> {
    // Upright images (most) are encoded straight from the resized buffer; only the others are
    // copied to be turned.
    let turned = (orientation != Orientation::NoTransforms)
        .then(|| {
            let mut image = if alpha {
                image::RgbaImage::from_raw(width, height, pixels.to_vec())
                    .map(DynamicImage::ImageRgba8)
            } else {
                image::RgbImage::from_raw(width, height, pixels.to_vec())
                    .map(DynamicImage::ImageRgb8)
            }
            .ok_or_else(|| resize_error("a buffer of the wrong size"))?;
            image.apply_orientation(orientation);
            Ok(image)
        })
        .transpose()?;
    let (width, height, pixels) = match &turned {
        Some(image) => (image.width(), image.height(), image.as_bytes()),
        None => (width, height, pixels),
    };
    let (content_type, bytes) = if alpha {
        let mut bytes = Vec::new();
        image::codecs::png::PngEncoder::new_with_quality(
            &mut bytes,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Adaptive,
        )
        .write_image(pixels, width, height, image::ExtendedColorType::Rgba8)
        .map_err(|error| Rejection::Corrupt(format!("encoding failed: {error}")))?;
        ("image/png", bytes)
    } else {
        let bytes = jpeg(pixels, width, height)
            .map_err(|error| Rejection::Corrupt(format!("encoding failed: {error}")))?;
        ("image/jpeg", bytes)
    };
    let webp = webp(pixels, width, height, alpha)?;
    Ok(Rendered {
        name,
        width,
        height,
        content_type,
        bytes,
        alternates: vec![Alternate {
            content_type: "image/webp",
            bytes: webp,
        }],
    })
}

/// A lossy WebP (alpha kept) of RGB or RGBA pixels.
pub fn webp(pixels: &[u8], width: u32, height: u32, alpha: bool) -> Result<Vec<u8>, Rejection> {
    let encoder = if alpha {
        webp::Encoder::from_rgba(pixels, width, height)
    } else {
        webp::Encoder::from_rgb(pixels, width, height)
    };
    let mut config = webp::WebPConfig::new()
        .map_err(|()| Rejection::Corrupt("the WebP encoder could not start".into()))?;
    config.quality = WEBP_QUALITY;
    config.method = WEBP_METHOD;
    let encoded = encoder
        .encode_advanced(&config)
        .map_err(|error| Rejection::Corrupt(format!("encoding failed: {error:?}")))?;
    Ok(encoded.to_vec())
}

fn jpeg(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, turbojpeg::Error> {
    let image = turbojpeg::Image {
        pixels: rgb,
        width: width as usize,
        pitch: width as usize * 3,
        height: height as usize,
        format: turbojpeg::PixelFormat::RGB,
    };
    turbojpeg::Compressor::new().and_then(|mut compressor| {
        compressor.set_quality(JPEG_QUALITY)?;
        compressor.set_subsamp(turbojpeg::Subsamp::Sub2x2)?;
        compressor.set_optimize(true)?;
        compressor.compress_to_vec(image)
    })
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn variants_bound_the_longest_side_and_never_upscale() {
        assert_eq!(fit(5120, 2880, 1600), (1600, 900));
        assert_eq!(fit(2880, 5120, 150), (84, 150));
        assert_eq!(fit(100, 80, 320), (100, 80));
        assert_eq!(fit(10000, 1, 150), (150, 1));
    }
}
