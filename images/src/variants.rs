//! From decoded pixels to the four encoded variants.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use catalog_events::VariantName;
use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, ImageEncoder};

use super::decode::Decoded;
use super::placeholder::{self, Placeholder};
use super::quality::{Qualities, Sample};
use super::{Alternate, LaterFormats, Pixels, Rejection, Rendered, Rendition, Timings};

/// libwebp's effort (0 fastest to 6 smallest).
pub const WEBP_METHOD: i32 = 4;

/// The most of its JPEG's (or PNG's) bytes a variant's WebP may take and still be offered.
/// A WebP reaches only the browsers that take no AVIF, and it is most of the work before a
/// photo is ready; below a fifth fewer bytes it is not worth that work, nor the storage.
pub const WEBP_MOST: f64 = 0.8;
/// The most of its JPEG's bytes a variant's AVIF may take and still be offered. Nearly every
/// browser takes AVIF and it is made after the photo is ready, so any real saving is worth
/// it; but the formats' looks agree only within a few points of SSIMULACRA2 on the variants
/// (the search runs on the `small` one), a few percent of the bytes either way, so a
/// saving under a tenth is not one at the same look.
pub const AVIF_MOST: f64 = 0.9;

/// libaom's speed (0 slowest to 10), chosen by measurement on Debian's wallpapers, one
/// thread, at the quality matching the JPEG's: at 7 a photo's AVIF variants take 0.68 s and
/// 0.54 of the JPEG's bytes; at 9, 0.08 s and 0.69; at 8, 0.22 s and more bytes than at 9.
/// 0.68 s is more than a photo should wait to be ready, so they are made after it
/// ([`later_formats`]). rav1e, through libavif at the same quantizers, took 0.52 s at its
/// fastest speed (10) where libaom took 0.15 s at 9, for 7% more bytes.
pub const AVIF_SPEED: u8 = 7;

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

/// Resizes, orients and encodes every variant, each from the one before. Sizes come from the
/// original's dimensions, so a JPEG decoded at a reduced scale gives exactly the variants the
/// full image would.
pub fn render(decoded: Decoded) -> Result<Rendition, Rejection> {
    let started = Instant::now();
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
    let (width, height) = (image.width(), image.height());
    let pixels = if alpha {
        image.into_rgba8().into_raw()
    } else {
        image.into_rgb8().into_raw()
    };
    let mut decoded =
        Some(Image::from_vec_u8(width, height, pixels, pixel_type).map_err(resize_error)?);
    let mut resizer = Resizer::new();
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
    // Largest first, each from the one before; the decoded image goes once the largest is
    // made, and every variant is kept until all are encoded.
    let mut sized: Vec<(VariantName, Image<'static>)> = Vec::with_capacity(VariantName::ALL.len());
    for name in VariantName::ALL.into_iter().rev() {
        let previous = match (&decoded, sized.last()) {
            (Some(image), _) | (None, Some((_, image))) => image,
            (None, None) => return Err(resize_error("no image to resize")),
        };
        let target = fit(original.0, original.1, name.max_side());
        let target = (
            target.0.min(previous.width()),
            target.1.min(previous.height()),
        );
        let resized = if target == (previous.width(), previous.height()) {
            None
        } else {
            let mut resized = Image::new(target.0, target.1, pixel_type);
            resizer
                .resize(previous, &mut resized, &options)
                .map_err(resize_error)?;
            Some(resized)
        };
        let image = match (resized, decoded.take()) {
            (Some(image), _) => image,
            // The decoded image is already this variant's size.
            (None, Some(full)) => full,
            // A small image: this variant is the previous one's size.
            (None, None) => match sized.last() {
                Some((_, previous)) => previous.copy(),
                None => return Err(resize_error("no image to resize")),
            },
        };
        sized.push((name, image));
    }
    let Some((_, smallest)) = sized.last() else {
        return Err(resize_error("no variant"));
    };
    let placeholder = placeholder(smallest, &mut resizer, &options, orientation)?;
    let upright = sized
        .iter()
        .map(|(name, image)| Upright::of(*name, image, alpha, orientation))
        .collect::<Result<Vec<_>, _>>()?;
    let resize = started.elapsed();
    let chosen = choose(&upright)?;
    let choose = started.elapsed().saturating_sub(resize);
    let qualities = chosen.qualities;
    let mut variants = encode_all(&upright, &chosen)?;
    variants.reverse();
    let encode = started.elapsed().saturating_sub(resize + choose);
    let later = if alpha {
        Vec::new()
    } else {
        upright
            .into_iter()
            .zip(variants.iter().rev())
            .map(|(u, rendered)| Pixels {
                name: u.name,
                width: u.width,
                height: u.height,
                rgb: u.pixels.into_owned(),
                jpeg_bytes: rendered.bytes.len(),
            })
            .collect()
    };
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
        later,
        qualities,
        timings: Timings {
            decode: Duration::ZERO,
            resize,
            choose,
            encode,
        },
    })
}

/// The JPEG and WebP qualities of a photo, found on its `small` variant ([`quality`]), and
/// that variant's files where the search made them.
struct Chosen {
    qualities: Qualities,
    sample: VariantName,
    jpeg: Option<Vec<u8>>,
    webp: Option<Vec<u8>>,
}

fn choose(upright: &[Upright<'_>]) -> Result<Chosen, Rejection> {
    let small = sample_of(upright, |u| u.name)
        .ok_or_else(|| resize_error("no variant to choose the quality on"))?;
    let sample = Sample::new(&small.pixels, small.width, small.height, small.alpha)?;
    let jpeg = if small.alpha {
        None
    } else {
        Some(sample.jpeg()?)
    };
    let webp = sample.webp(jpeg.as_ref().map(|found| found.quality))?;
    Ok(Chosen {
        qualities: Qualities {
            jpeg: jpeg.as_ref().map(|found| found.quality),
            webp: webp.quality,
        },
        sample: small.name,
        jpeg: jpeg.and_then(|found| found.encoded),
        webp: webp.encoded,
    })
}

/// The variant the qualities are searched on: the `small` one, or the smallest there is.
fn sample_of<T>(variants: &[T], name: impl Fn(&T) -> VariantName) -> Option<&T> {
    variants
        .iter()
        .find(|v| name(v) == VariantName::Small)
        .or_else(|| variants.last())
}

/// One variant's pixels as shown (orientation applied), ready to encode.
struct Upright<'a> {
    name: VariantName,
    width: u32,
    height: u32,
    alpha: bool,
    pixels: Cow<'a, [u8]>,
}

impl<'a> Upright<'a> {
    /// Upright images (most) are encoded straight from the resized buffer; only the others
    /// are copied to be turned.
    fn of(
        name: VariantName,
        image: &'a Image<'_>,
        alpha: bool,
        orientation: Orientation,
    ) -> Result<Self, Rejection> {
        let (width, height) = (image.width(), image.height());
        if orientation == Orientation::NoTransforms {
            let pixels = Cow::Borrowed(image.buffer());
            return Ok(Self {
                name,
                width,
                height,
                alpha,
                pixels,
            });
        }
        let pixels = image.buffer().to_vec();
        let mut turned = if alpha {
            image::RgbaImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgba8)
        } else {
            image::RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
        }
        .ok_or_else(|| resize_error("a buffer of the wrong size"))?;
        turned.apply_orientation(orientation);
        Ok(Self {
            name,
            width: turned.width(),
            height: turned.height(),
            alpha,
            pixels: Cow::Owned(turned.into_bytes()),
        })
    }
}

/// Encodes every variant as JPEG (or PNG) and WebP at the photo's qualities (the searched
/// variant's files are the search's); a WebP is kept only where it is light enough
/// ([`WEBP_MOST`]). The largest variant's WebP, about three quarters of the work, runs on a
/// thread of its own while this one encodes the rest, so that a photo is ready about when
/// that one encode is done.
fn encode_all(upright: &[Upright<'_>], chosen: &Chosen) -> Result<Vec<Rendered>, Rejection> {
    let webp_quality = f32::from(chosen.qualities.webp);
    let webp_of = |u: &Upright<'_>| match (&chosen.webp, u.name == chosen.sample) {
        (Some(webp), true) => Ok(webp.clone()),
        _ => webp(&u.pixels, u.width, u.height, u.alpha, webp_quality),
    };
    let primary_of = |u: &Upright<'_>| match (&chosen.jpeg, u.name == chosen.sample) {
        (Some(jpeg), true) => Ok(("image/jpeg", jpeg.clone())),
        _ => primary(u, chosen.qualities.jpeg),
    };
    let Some((largest, rest)) = upright.split_first() else {
        return Ok(Vec::new());
    };
    let (primary, webps) = std::thread::scope(|scope| {
        let largest = scope.spawn(|| webp_of(largest));
        let primary = upright
            .iter()
            .map(primary_of)
            .collect::<Result<Vec<_>, _>>();
        let rest = rest.iter().map(webp_of).collect::<Result<Vec<_>, _>>();
        let largest = largest
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let webps = largest.and_then(|largest| {
            let mut webps = vec![largest];
            webps.extend(rest?);
            Ok(webps)
        });
        (primary, webps)
    });
    let rendered = primary?
        .into_iter()
        .zip(webps?)
        .zip(upright)
        .map(|((primary, webp), u)| {
            let (content_type, bytes) = primary;
            let alternates = lighter(bytes.len(), webp.len(), WEBP_MOST)
                .then_some(Alternate {
                    content_type: "image/webp",
                    bytes: webp,
                })
                .into_iter()
                .collect();
            Rendered {
                name: u.name,
                width: u.width,
                height: u.height,
                content_type,
                bytes,
                alternates,
            }
        })
        .collect();
    Ok(rendered)
}

/// Whether an alternate of `bytes` is light enough beside its variant's `primary` bytes to
/// be offered: at most `most` of them.
pub fn lighter(primary: usize, bytes: usize, most: f64) -> bool {
    (bytes as f64) <= primary as f64 * most && bytes < primary
}

/// The formats made once a photo is ready: the AVIF of each variant (content type
/// `image/avif`) where it is lighter than the JPEG ([`AVIF_MOST`]), largest first, at the
/// quality found on the `small` variant; the largest on a thread of its own while this one
/// encodes the others. With the quality found, for the processor's metrics.
pub fn later_formats(pixels: &[Pixels]) -> Result<LaterFormats, Rejection> {
    let Some(sample) = sample_of(pixels, |p| p.name) else {
        return Ok(LaterFormats::default());
    };
    let quality = Sample::new(&sample.rgb, sample.width, sample.height, false)?
        .avif()?
        .quality;
    let avif_of = |p: &Pixels| {
        avif(&p.rgb, p.width, p.height, quality).map(|bytes| {
            let alternate = Alternate {
                content_type: "image/avif",
                bytes,
            };
            (p.name, alternate)
        })
    };
    let Some((largest, rest)) = pixels.split_first() else {
        return Ok(LaterFormats::default());
    };
    let encoded = std::thread::scope(|scope| {
        let largest = scope.spawn(|| avif_of(largest));
        let rest = rest.iter().map(avif_of).collect::<Result<Vec<_>, _>>();
        let largest = largest
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        let mut encoded = vec![largest];
        encoded.extend(rest?);
        Ok::<_, Rejection>(encoded)
    })?;
    let formats = encoded
        .into_iter()
        .zip(pixels)
        .filter(|((_, alternate), p)| lighter(p.jpeg_bytes, alternate.bytes.len(), AVIF_MOST))
        .map(|(encoded, _)| encoded)
        .collect();
    Ok(LaterFormats {
        quality: Some(quality),
        formats,
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

/// The variant in its main format: JPEG at `jpeg` quality when opaque, PNG when it has
/// transparency.
fn primary(upright: &Upright<'_>, jpeg: Option<u8>) -> Result<(&'static str, Vec<u8>), Rejection> {
    let Upright {
        width,
        height,
        pixels,
        ..
    } = upright;
    let Some(quality) = jpeg.filter(|_| !upright.alpha) else {
        let mut bytes = Vec::new();
        image::codecs::png::PngEncoder::new_with_quality(
            &mut bytes,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Adaptive,
        )
        .write_image(pixels, *width, *height, image::ExtendedColorType::Rgba8)
        .map_err(encode_error)?;
        return Ok(("image/png", bytes));
    };
    let bytes = self::jpeg(pixels, *width, *height, quality).map_err(encode_error)?;
    Ok(("image/jpeg", bytes))
}

fn encode_error(error: impl std::fmt::Display) -> Rejection {
    Rejection::Corrupt(format!("encoding failed: {error}"))
}

/// A lossy WebP (alpha kept) of RGB or RGBA pixels at a quality of libwebp's (0 to 100).
pub fn webp(
    pixels: &[u8],
    width: u32,
    height: u32,
    alpha: bool,
    quality: f32,
) -> Result<Vec<u8>, Rejection> {
    let encoder = if alpha {
        webp::Encoder::from_rgba(pixels, width, height)
    } else {
        webp::Encoder::from_rgb(pixels, width, height)
    };
    let mut config = webp::WebPConfig::new()
        .map_err(|()| Rejection::Corrupt("the WebP encoder could not start".into()))?;
    config.quality = quality;
    config.method = WEBP_METHOD;
    let encoded = encoder
        .encode_advanced(&config)
        .map_err(|error| encode_error(format!("{error:?}")))?;
    Ok(encoded.to_vec())
}

/// A lossy AVIF (4:2:0, like the JPEG) of RGB pixels at a quality of libavif's (0 to 100),
/// by libaom on one thread at [`AVIF_SPEED`].
pub fn avif(rgb: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>, Rejection> {
    avif_at(rgb, width, height, quality, AVIF_SPEED)
}

/// [`avif`] at another of libaom's speeds.
pub fn avif_at(
    rgb: &[u8],
    width: u32,
    height: u32,
    quality: u8,
    speed: u8,
) -> Result<Vec<u8>, Rejection> {
    let pixels = libavif::RgbPixels::new(width, height, rgb).map_err(encode_error)?;
    let image = pixels.to_image(libavif::YuvFormat::Yuv420);
    let mut encoder = libavif::Encoder::new();
    encoder
        .set_quality(quality)
        .set_speed(speed)
        .set_max_threads(1);
    Ok(encoder.encode(&image).map_err(encode_error)?.to_vec())
}

/// A JPEG of RGB pixels at a quality of libjpeg's (1 to 100), 4:2:0 (colour at half
/// resolution, which photographs do not show, for about a third fewer bytes), Huffman tables
/// optimized.
pub fn jpeg(rgb: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>, turbojpeg::Error> {
    let image = turbojpeg::Image {
        pixels: rgb,
        width: width as usize,
        pitch: width as usize * 3,
        height: height as usize,
        format: turbojpeg::PixelFormat::RGB,
    };
    turbojpeg::Compressor::new().and_then(|mut compressor| {
        compressor.set_quality(i32::from(quality))?;
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
