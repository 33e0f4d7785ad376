//! Quality per image: every format of a photo encoded to one look, no byte past it.
//!
//! A fixed quality setting is a fixed amount of loss per pixel, not a fixed look: a product
//! on a white sweep looks perfect at a quality that leaves foliage or fabric blotchy, and a
//! WebP or AVIF quality matched to the JPEG's on one set of photos looks better or worse than
//! the JPEG on another. So each photo gets its own JPEG, WebP and AVIF qualities: for each
//! format, the lowest quality whose result scores [`TARGET`] on SSIMULACRA2 against the
//! pixels it was made from, found by a short search (two or three encodes, [`MAX_TRIES`] at
//! most) on a downscaled copy, the `small` variant, and then applied to every variant.
//!
//! SSIMULACRA2 (fast-ssim2, Cloudinary's metric in SIMD Rust) rather than DSSIM: it was
//! fitted to people's opinion scores of images compressed by exactly these codecs at web
//! qualities (Cloudinary's CID22 set: JPEG, WebP, AVIF, JPEG XL), and it scores what DSSIM, a
//! general structural similarity, weighs only loosely: blur, lost texture and banding (WebP's
//! and AVIF's loss) against blocking and ringing (JPEG's). The fixed WebP quality matched to
//! the JPEG by DSSIM on one set of photos made WebPs heavier than their JPEGs on others.
//! `./dev bench images` gives both scores of every file, so the two can be compared; it has
//! no opinion scores of its own to settle which tracks people. The reference pyramid is built
//! once per photo and each candidate compared against it.

use fast_ssim2::{PixelDescriptor, PixelSlice, Ssimulacra2Reference};

use super::Rejection;

/// The look every format of every variant is made to: a SSIMULACRA2 score of the encoded
/// image against the pixels it was made from (100 is identical; 90 cannot be told apart in
/// a flicker test, 80 in a side-by-side, 70 shows loss only to one who looks for it).
/// Chosen from the corpus of `./dev bench images`: the median score the `small` variants (what
/// the search runs on) had at the fixed JPEG quality 80 the service used before, so the
/// median photo keeps its look and every other photo is brought to it.
pub const TARGET: f64 = 79.0;

/// Most encodes a format's search makes, but for one more at the highest quality when none
/// reaches the target.
pub const MAX_TRIES: usize = 3;

/// How far past the target a try may score and still end the search: a point of
/// SSIMULACRA2 is a few percent of the bytes, finer than the formats' looks agree between the
/// sample and the large variant.
pub const TOLERANCE: f64 = 1.0;

/// libaom's speed for the AVIF search's tries: at the same quality, speed 9 scores within
/// about a point of the variants' speed (`variants::AVIF_SPEED`) in a seventh of the time.
pub const AVIF_SEARCH_SPEED: u8 = 9;

/// The qualities found for one photo: the JPEG's (none for a transparent image, which is
/// PNG) and the WebP's, before it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qualities {
    pub jpeg: Option<u8>,
    pub webp: u8,
}

/// A format's quality scale as searched: its bounds and where a search starts (the median
/// quality the photos of `./dev bench images` needed).
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
    start: 83,
};
/// libavif's quality (libaom's quantizer), 4:2:0.
pub const AVIF: Scale = Scale {
    lowest: 30,
    highest: 95,
    start: 72,
};

/// The downscaled copy searched on, with its SSIMULACRA2 reference built once.
pub struct Sample<'a> {
    pixels: &'a [u8],
    width: u32,
    height: u32,
    alpha: bool,
    reference: Ssimulacra2Reference,
}

/// What a search found: the quality, its score (as tried, or as the line between two tries
/// gives it), and the sample encoded at it when it was tried (the `small` variant's file,
/// when the search ran at the variants' settings).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub quality: u8,
    pub score: f64,
    pub encoded: Option<Vec<u8>>,
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
        self.search(JPEG, JPEG.start, |quality| {
            let bytes = super::variants::jpeg(self.pixels, self.width, self.height, quality)
                .map_err(|e| metric_error(format!("JPEG: {e}")))?;
            let decoded = turbojpeg::decompress(&bytes, turbojpeg::PixelFormat::RGB)
                .map_err(|e| metric_error(format!("JPEG: {e}")))?;
            Ok((self.score(&decoded.pixels, false)?, bytes))
        })
    }

    /// The WebP quality that reaches the target; the search starts from where the JPEG's
    /// ended, when known, as a photo that needs more of one needs more of the other.
    pub fn webp(&self, jpeg: Option<u8>) -> Result<Found, Rejection> {
        let start = jpeg.map_or(WEBP.start, |jpeg| {
            let offset = i32::from(WEBP.start) - i32::from(JPEG.start);
            (i32::from(jpeg) + offset).clamp(i32::from(WEBP.lowest), i32::from(WEBP.highest)) as u8
        });
        self.search(WEBP, start, |quality| {
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
            Ok((self.score(&decoded, decoded.is_alpha())?, bytes))
        })
    }

    /// The AVIF quality that reaches the target (opaque images only), tried at
    /// [`AVIF_SEARCH_SPEED`].
    pub fn avif(&self) -> Result<Found, Rejection> {
        self.search(AVIF, AVIF.start, |quality| {
            let bytes = super::variants::avif_at(
                self.pixels,
                self.width,
                self.height,
                quality,
                AVIF_SEARCH_SPEED,
            )?;
            let score = {
                let decoded = libavif::decode_rgb(&bytes).map_err(metric_error)?;
                self.score(decoded.as_slice(), true)?
            };
            Ok((score, bytes))
        })
    }

    /// The lowest quality of `scale` whose `try_quality` (score, file) reaches the target.
    /// It tries the `start`; then a Newton step from it towards the target, by the slope most
    /// photos have there ([`SLOPE`]); a try within [`TOLERANCE`] over the target ends it.
    /// Once two tries lie on either side of the target, the quality between them where the
    /// line through them meets the target is taken without a try: the score rises with the
    /// quality ever more slowly (it is concave), so the line lies under it and that quality
    /// reaches the target. A third try, by the two tries' own slope, when they lie on one
    /// side. When none reaches the target, one more try at the scale's highest quality, which
    /// is taken whatever it scores: a format is never made below the target when it can reach
    /// it.
    fn search(
        &self,
        scale: Scale,
        start: u8,
        mut try_quality: impl FnMut(u8) -> Result<(f64, Vec<u8>), Rejection>,
    ) -> Result<Found, Rejection> {
        let mut tried: Vec<Found> = Vec::with_capacity(MAX_TRIES + 1);
        let mut quality = start;
        loop {
            let (score, encoded) = try_quality(quality)?;
            tried.push(Found {
                quality,
                score,
                encoded: Some(encoded),
            });
            if (TARGET..TARGET + TOLERANCE).contains(&score) {
                return take(tried, quality);
            }
            match next(&tried, scale) {
                Next::Try(next) if tried.len() < MAX_TRIES => quality = next,
                Next::Try(_) if tried.iter().all(|f| f.quality < scale.highest) => {
                    quality = scale.highest;
                }
                Next::Try(_) | Next::Take => return best(tried),
                Next::Between(quality, score) => {
                    return Ok(Found {
                        quality,
                        score,
                        encoded: None,
                    });
                }
            }
        }
    }
}

/// The score most photos gain a quality point near the target, in each format (JPEG, WebP,
/// AVIF: about half a point); the first step's guess, which the second try corrects.
pub const SLOPE: f64 = 0.5;

/// What a search does after its tries so far.
#[derive(Debug, PartialEq)]
enum Next {
    /// Try this quality.
    Try(u8),
    /// Take this quality untried, with the score the line through the tries on either side
    /// of the target gives it.
    Between(u8, f64),
    /// Take the best try: nothing is left to try.
    Take,
}

/// Where a search goes after its tries (none of them within the tolerance).
fn next(tried: &[Found], scale: Scale) -> Next {
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
                return Next::Take;
            }
            // On the line between the two, rounded up to the side that reaches the target.
            let slope = (high.score - low.score) / f64::from(high.quality - low.quality);
            let steps = ((TARGET - low.score) / slope.max(f64::EPSILON)).ceil();
            let quality = (f64::from(low.quality) + steps)
                .clamp(f64::from(low.quality) + 1.0, f64::from(high.quality) - 1.0);
            let score = low.score + slope * (quality - f64::from(low.quality));
            return Next::Between(quality as u8, score);
        }
        (Some(nearest), None) | (None, Some(nearest)) => {
            let step = step(tried, nearest);
            let quality = if nearest.score < TARGET {
                i32::from(nearest.quality) + step
            } else {
                i32::from(nearest.quality) - step
            };
            quality.clamp(i32::from(scale.lowest), i32::from(scale.highest)) as u8
        }
        (None, None) => return Next::Take,
    };
    if tried.iter().any(|f| f.quality == quality) {
        Next::Take
    } else {
        Next::Try(quality)
    }
}

/// How far to step from `nearest` towards the target: by the slope of two tries when there
/// are two and it rises, else by [`SLOPE`]; at least 2, at most 16.
fn step(tried: &[Found], nearest: &Found) -> i32 {
    let other = tried.iter().find(|f| f.quality != nearest.quality);
    let slope = other
        .map(|other| {
            (nearest.score - other.score) / (f64::from(nearest.quality) - f64::from(other.quality))
        })
        .filter(|slope| *slope > 0.05)
        .unwrap_or(SLOPE);
    let distance = ((TARGET - nearest.score).abs() / slope).ceil() as i32;
    distance.clamp(2, 16)
}

/// The try of this quality.
fn take(mut tried: Vec<Found>, quality: u8) -> Result<Found, Rejection> {
    let index = tried
        .iter()
        .position(|f| f.quality == quality)
        .ok_or_else(|| metric_error("the search lost a try"))?;
    Ok(tried.swap_remove(index))
}

/// The lowest try that reaches the target, or else the highest.
fn best(tried: Vec<Found>) -> Result<Found, Rejection> {
    let passing = tried
        .iter()
        .filter(|f| f.score >= TARGET)
        .min_by_key(|f| f.quality);
    let quality = passing
        .or_else(|| tried.iter().max_by_key(|f| f.quality))
        .map(|f| f.quality)
        .ok_or_else(|| metric_error("the search tried nothing"))?;
    take(tried, quality)
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

    /// A try scoring `above` the target (below it when negative).
    fn at(quality: u8, above: f64) -> Found {
        Found {
            quality,
            score: TARGET + above,
            encoded: None,
        }
    }

    #[test]
    fn a_first_try_steps_towards_the_target_by_the_usual_slope() {
        assert_eq!(next(&[at(80, -3.0)], JPEG), Next::Try(86));
        assert_eq!(next(&[at(80, 6.0)], JPEG), Next::Try(68));
        assert_eq!(next(&[at(80, -0.4)], JPEG), Next::Try(82), "2 at least");
    }

    #[test]
    fn two_tries_on_one_side_step_by_their_own_slope() {
        // A point a quality: 4 more reach it.
        let tried = [at(72, -12.0), at(80, -4.0)];
        assert_eq!(next(&tried, JPEG), Next::Try(84));
    }

    #[test]
    fn tries_on_either_side_give_the_quality_between_where_their_line_meets_the_target() {
        let tried = [at(80, -4.0), at(88, 4.0)];
        assert_eq!(next(&tried, JPEG), Next::Between(84, TARGET));
        // Rounded up, to the side that reaches it.
        let tried = [at(80, -3.0), at(88, 5.0)];
        assert_eq!(next(&tried, JPEG), Next::Between(83, TARGET));
        assert_eq!(next(&[at(80, -0.1), at(81, 1.2)], JPEG), Next::Take);
    }

    #[test]
    fn the_scale_bounds_the_tries() {
        assert_eq!(next(&[at(95, -16.0)], JPEG), Next::Take);
        assert_eq!(next(&[at(90, -16.0)], JPEG), Next::Try(95));
    }

    #[test]
    fn the_best_try_is_the_lowest_that_reaches_the_target_or_else_the_highest() {
        let taken = best(vec![at(70, -2.0), at(90, 3.0), at(86, 2.0)]).unwrap();
        assert_eq!(taken.quality, 86);
        let taken = best(vec![at(70, -9.0), at(95, -2.0), at(86, -4.0)]).unwrap();
        assert_eq!(taken.quality, 95);
    }
}
