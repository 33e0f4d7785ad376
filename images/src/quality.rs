//! Quality per image: every format of a photo encoded to one look, no byte past it.
//!
//! A fixed quality setting is a fixed amount of loss per pixel, not a fixed look: a product
//! on a white sweep looks perfect at a quality that leaves foliage or fabric blotchy, and a
//! WebP or AVIF quality matched to the JPEG's on one set of photos looks better or worse than
//! the JPEG on another. So each photo gets its own JPEG, WebP and AVIF qualities: for each
//! format, the lowest quality whose result scores [`TARGET`] on SSIMULACRA2 against the
//! pixels it was made from, found by a short search (a few encodes, [`MAX_TRIES`] at most) on
//! a downscaled copy, the `small` variant, and then applied to every variant.
//!
//! SSIMULACRA2 (fast-ssim2, Cloudinary's metric in SIMD Rust) rather than DSSIM, because it
//! was fitted to people's opinion scores of exactly these codecs at these qualities (the CID22
//! set: JPEG, WebP, AVIF and JPEG XL), and it weighs what DSSIM does not: blur and lost
//! texture (WebP's and AVIF's loss) against blocking and ringing (JPEG's). Matched by DSSIM,
//! WebP was made at qualities that gave it more bytes than the JPEG (`./dev bench images`
//! shows both scores of every file). Its reference pyramid is built once per photo and each
//! candidate compared against it.

use fast_ssim2::{PixelDescriptor, PixelSlice, Ssimulacra2Reference};

use super::Rejection;

/// The look every format of every variant is made to: a SSIMULACRA2 score of the encoded
/// image against the pixels it was made from (100 is identical; 90 cannot be told apart in
/// a flicker test, 80 in a side-by-side, 70 shows loss only to one who looks for it).
/// Chosen from the corpus of `./dev bench images`: the median score the variants had at the
/// fixed JPEG quality 80 the service used before, so the median photo keeps its look and every
/// other photo is brought to it.
pub const TARGET: f64 = 76.0;

/// Most encodes a format's search makes, but for one more at the highest quality when none
/// reaches the target.
pub const MAX_TRIES: usize = 3;

/// The qualities found for one photo: the JPEG's (none for a transparent image, which is
/// PNG) and the WebP's, before it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qualities {
    pub jpeg: Option<u8>,
    pub webp: u8,
}

/// A format's quality scale as searched: its bounds and where a search starts (the quality
/// most photos of the corpus need).
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub lowest: u8,
    pub highest: u8,
    pub start: u8,
}

/// libjpeg-turbo's quality, 4:2:0.
pub const JPEG: Scale = Scale {
    lowest: 40,
    highest: 95,
    start: 80,
};
/// libwebp's quality.
pub const WEBP: Scale = Scale {
    lowest: 40,
    highest: 98,
    start: 80,
};
/// libavif's quality (libaom's quantizer), 4:2:0.
pub const AVIF: Scale = Scale {
    lowest: 30,
    highest: 95,
    start: 70,
};

/// How far a second try steps from the first when the first does not tell the way.
const STEP: i32 = 8;

/// The downscaled copy searched on, with its SSIMULACRA2 reference built once.
pub struct Sample<'a> {
    pixels: &'a [u8],
    width: u32,
    height: u32,
    alpha: bool,
    reference: Ssimulacra2Reference,
}

/// What a search found: the quality, its score and its bytes on the sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub quality: u8,
    pub score: f64,
    pub bytes: usize,
}

impl<'a> Sample<'a> {
    /// A sample of RGB (or RGBA, `alpha`) pixels.
    pub fn new(pixels: &'a [u8], width: u32, height: u32, alpha: bool) -> Result<Self, Rejection> {
        let reference = Ssimulacra2Reference::new(&slice(pixels, width, height, alpha)?)
            .map_err(metric_error)?;
        Ok(Self {
            pixels,
            width,
            height,
            alpha,
            reference,
        })
    }

    /// The SSIMULACRA2 score of decoded pixels (RGB, or RGBA when `alpha`) against the sample.
    pub fn score(&self, pixels: &[u8], alpha: bool) -> Result<f64, Rejection> {
        self.reference
            .compare(&slice(pixels, self.width, self.height, alpha)?)
            .map_err(metric_error)
    }

    /// The JPEG quality that reaches the target.
    pub fn jpeg(&self) -> Result<Found, Rejection> {
        self.search(JPEG, |quality| {
            let bytes = super::variants::jpeg(self.pixels, self.width, self.height, quality)
                .map_err(|e| metric_error(format!("JPEG: {e}")))?;
            let decoded = turbojpeg::decompress(&bytes, turbojpeg::PixelFormat::RGB)
                .map_err(|e| metric_error(format!("JPEG: {e}")))?;
            Ok((self.score(&decoded.pixels, false)?, bytes.len()))
        })
    }

    /// The WebP quality that reaches the target.
    pub fn webp(&self) -> Result<Found, Rejection> {
        self.search(WEBP, |quality| {
            let bytes = super::variants::webp(
                self.pixels,
                self.width,
                self.height,
                self.alpha,
                f32::from(quality),
            )?;
            let decoded = webp::Decoder::new(&bytes)
                .decode()
                .ok_or_else(|| metric_error("WebP: the encoder's output did not decode"))?;
            Ok((self.score(&decoded, decoded.is_alpha())?, bytes.len()))
        })
    }

    /// The AVIF quality that reaches the target (opaque images only).
    pub fn avif(&self) -> Result<Found, Rejection> {
        self.search(AVIF, |quality| {
            let bytes = super::variants::avif(self.pixels, self.width, self.height, quality)?;
            let decoded = libavif::decode_rgb(&bytes).map_err(metric_error)?;
            Ok((self.score(decoded.as_slice(), true)?, bytes.len()))
        })
    }

    /// The lowest quality of `scale` whose `try_quality` (score, bytes) reaches the target,
    /// in at most [`MAX_TRIES`] tries: the start, a step towards the target, then the point
    /// between the two nearest tries on either side of it, as the score rises about linearly
    /// with the quality there. When none of them reaches the target, one more try at the
    /// scale's highest quality, which is taken whatever it scores: a format is never made
    /// below the target when it can reach it.
    fn search(
        &self,
        scale: Scale,
        mut try_quality: impl FnMut(u8) -> Result<(f64, usize), Rejection>,
    ) -> Result<Found, Rejection> {
        let mut tried: Vec<Found> = Vec::with_capacity(MAX_TRIES);
        let mut next = Some(scale.start);
        while let Some(quality) = next.take() {
            let (score, bytes) = try_quality(quality)?;
            tried.push(Found {
                quality,
                score,
                bytes,
            });
            if tried.len() < MAX_TRIES {
                next = next_try(&tried, scale);
            } else if tried.iter().all(|found| found.score < TARGET)
                && tried.iter().all(|found| found.quality < scale.highest)
            {
                next = Some(scale.highest);
            }
        }
        let passing = tried
            .iter()
            .filter(|found| found.score >= TARGET)
            .min_by_key(|found| found.quality);
        let best = passing.or_else(|| tried.iter().max_by_key(|found| found.quality));
        best.copied()
            .ok_or_else(|| metric_error("the search tried nothing"))
    }
}

/// The quality to try next, or none when the tries have found it: between the nearest tries
/// below and above the target, or a step beyond the nearest towards it.
fn next_try(tried: &[Found], scale: Scale) -> Option<u8> {
    let below = tried
        .iter()
        .filter(|f| f.score < TARGET)
        .max_by_key(|f| f.quality);
    let above = tried
        .iter()
        .filter(|f| f.score >= TARGET)
        .min_by_key(|f| f.quality);
    let quality = match (below, above) {
        (Some(low), Some(high)) => {
            if high.quality <= low.quality + 1 {
                return None;
            }
            // Linear between the two, rounded up to the side that reaches the target.
            let span = (high.score - low.score).max(f64::EPSILON);
            let share = ((TARGET - low.score) / span).clamp(0.0, 1.0);
            let gap = f64::from(high.quality - low.quality);
            let quality = f64::from(low.quality) + (share * gap).ceil();
            (quality as i32).clamp(i32::from(low.quality) + 1, i32::from(high.quality) - 1)
        }
        (Some(low), None) => i32::from(low.quality) + step(tried, low),
        (None, Some(high)) => i32::from(high.quality) - step(tried, high),
        (None, None) => return None,
    };
    let quality = quality.clamp(i32::from(scale.lowest), i32::from(scale.highest)) as u8;
    (!tried.iter().any(|f| f.quality == quality)).then_some(quality)
}

/// How far to step from `nearest` towards the target: by the slope of two tries when there
/// are two (up to twice [`STEP`]), else [`STEP`].
fn step(tried: &[Found], nearest: &Found) -> i32 {
    let other = tried.iter().find(|f| f.quality != nearest.quality);
    let slope = other.map(|other| {
        (nearest.score - other.score) / (f64::from(nearest.quality) - f64::from(other.quality))
    });
    match slope {
        Some(slope) if slope > 0.05 => {
            let distance = ((TARGET - nearest.score).abs() / slope).ceil() as i32;
            distance.clamp(1, 2 * STEP)
        }
        _ => STEP,
    }
}

fn slice(pixels: &[u8], width: u32, height: u32, alpha: bool) -> Result<PixelSlice<'_>, Rejection> {
    let (channels, descriptor) = if alpha {
        (4, PixelDescriptor::RGBA8_SRGB)
    } else {
        (3, PixelDescriptor::RGB8_SRGB)
    };
    let stride = width as usize * channels;
    PixelSlice::new(pixels, width, height, stride, descriptor).map_err(metric_error)
}

fn metric_error(error: impl std::fmt::Display) -> Rejection {
    Rejection::Corrupt(format!("choosing the quality failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(quality: u8, score: f64) -> Found {
        Found {
            quality,
            score,
            bytes: 0,
        }
    }

    #[test]
    fn a_first_try_below_the_target_steps_up_and_one_above_steps_down() {
        assert_eq!(next_try(&[found(80, 70.0)], JPEG), Some(88));
        assert_eq!(next_try(&[found(80, 82.0)], JPEG), Some(72));
    }

    #[test]
    fn two_tries_on_one_side_step_by_their_slope() {
        // A point a quality: 4 more reach it.
        let tried = [found(72, 64.0), found(80, 72.0)];
        assert_eq!(next_try(&tried, JPEG), Some(84));
    }

    #[test]
    fn tries_on_both_sides_meet_between_them_on_the_side_that_reaches_the_target() {
        let tried = [found(80, 72.0), found(88, 80.0)];
        assert_eq!(next_try(&tried, JPEG), Some(84));
        assert_eq!(next_try(&[found(80, 75.9), found(81, 76.2)], JPEG), None);
    }

    #[test]
    fn the_scale_bounds_the_tries() {
        assert_eq!(next_try(&[found(95, 60.0)], JPEG), None);
        assert_eq!(next_try(&[found(90, 60.0)], JPEG), Some(95));
    }
}
