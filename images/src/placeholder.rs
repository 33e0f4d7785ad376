//! What a catalog page shows while a photo loads: its dominant colour, and a ThumbHash (a
//! 25-byte sketch of the image, alpha included, that a page decodes into a blurred preview).
//!
//! Both come from the smallest variant's pixels before it is encoded, scaled to fit 100 px
//! (ThumbHash's bound), so they cost well under a millisecond.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The placeholder of one photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// `#rrggbb`.
    pub dominant_color: String,
    /// The ThumbHash, base64.
    pub thumbhash: String,
}

/// ThumbHash takes images of at most 100 x 100 pixels.
pub const MAX_SIDE: u32 = 100;

/// The placeholder of an image of at most [`MAX_SIDE`] on either side, as RGBA pixels.
pub fn of(width: u32, height: u32, rgba: &[u8]) -> Placeholder {
    Placeholder {
        dominant_color: dominant_color(rgba),
        thumbhash: STANDARD.encode(thumbhash::rgba_to_thumb_hash(
            width as usize,
            height as usize,
            rgba,
        )),
    }
}

/// The colour most of the image has: the fullest of 4,096 boxes (4 bits a channel) of the
/// opaque pixels, as the mean of the pixels in it. A mean of the whole image would give the
/// grey-brown of a red shoe on a white floor; the fullest box gives the white.
fn dominant_color(rgba: &[u8]) -> String {
    let mut boxes = vec![(0u32, [0u64; 3]); 4096];
    for pixel in rgba.chunks_exact(4) {
        if pixel[3] < 128 {
            continue;
        }
        let index = (usize::from(pixel[0] >> 4) << 8)
            | (usize::from(pixel[1] >> 4) << 4)
            | usize::from(pixel[2] >> 4);
        let (count, sums) = &mut boxes[index];
        *count += 1;
        for (sum, value) in sums.iter_mut().zip(pixel) {
            *sum += u64::from(*value);
        }
    }
    let (count, sums) = boxes
        .iter()
        .max_by_key(|(count, _)| *count)
        .copied()
        .unwrap_or_default();
    let channel = |sum: u64| sum.checked_div(u64::from(count)).unwrap_or(0);
    format!(
        "#{:02x}{:02x}{:02x}",
        channel(sums[0]),
        channel(sums[1]),
        channel(sums[2])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dominant_colour_is_the_commonest_not_the_mean() {
        // Three quarters white, a quarter pure red.
        let mut rgba = Vec::new();
        for n in 0..100 {
            let pixel = if n % 4 == 0 {
                [255, 0, 0, 255]
            } else {
                [250, 250, 250, 255]
            };
            rgba.extend(pixel);
        }
        let placeholder = of(10, 10, &rgba);
        assert_eq!(placeholder.dominant_color, "#fafafa");
        let hash = STANDARD.decode(&placeholder.thumbhash).unwrap();
        assert!((5..=25).contains(&hash.len()), "{}", hash.len());
    }

    #[test]
    fn transparent_pixels_do_not_count() {
        let mut rgba = vec![0; 4 * 30];
        rgba.extend([10, 20, 30, 255].repeat(10));
        assert_eq!(of(8, 5, &rgba).dominant_color, "#0a141e");
    }
}
