//! The image pipeline: from an uploaded file's bytes to the four variants of the contract.
//!
//! Pure and synchronous on purpose: bytes in, encoded variants out, with no async runtime, no
//! AWS and no database (a test of the workspace holds it to that). The one thread it starts
//! is its own: the largest variant's encode runs beside the others, so a photo is ready
//! sooner. The one process it starts is its own too: [`render_sandboxed`] decodes in a child
//! process confined to decoding ([`sandbox`]), so that the C decoders never parse a file
//! beside the processor's credentials.
//! The image processor (`catalog-image-processor`) is the worker around it; `fuzz/` feeds it
//! any bytes and `benches/images/` measures it beside the codecs' floor and libvips.
//!
//! The bytes decide everything (never the name or the declared type): [`decode`] identifies
//! the format from its magic bytes, reads the dimensions from the header and refuses more
//! pixels than the limit before decoding anything, then decodes (JPEG with libjpeg-turbo, at
//! the smallest DCT scale that still covers the largest variant; WebP with libwebp; PNG, GIF
//! and animated WebP with the `image` crate, an animation giving its first frame) and
//! converts to sRGB (CMYK JPEGs and embedded ICC profiles through Little CMS). [`variants`]
//! resizes (SIMD, Catmull-Rom, each variant from the previous larger one), applies the EXIF
//! orientation to the small results, and encodes: JPEG with 4:2:0 chroma subsampling for
//! opaque images, PNG for images with transparency, and each also as a WebP (libwebp) where
//! that is lighter enough. Each format's quality is the photo's own, found by [`quality`]: the
//! lowest that reaches one perceptual target. [`variants::later_formats`] makes the AVIF of
//! an opaque image's variants from the pixels the render kept, where lighter than the JPEG:
//! libaom's better-compressing speed takes longer than a photo should wait to be ready, so
//! the image processor makes them after. Nothing of the original's metadata is copied (no EXIF, no GPS): the
//! variants are encoded from pixels. [`placeholder`] sketches the image for pages to show
//! while it loads.

pub mod decode;
mod heif;
mod heif_size;
mod libwebp;
pub mod placeholder;
pub mod quality;
pub mod sandbox;
pub mod variants;

#[cfg(any(test, feature = "testing"))]
#[allow(clippy::expect_used)] // a file that cannot be made is a broken test
pub mod hostile;

use std::io;
use std::time::{Duration, Instant};

use catalog_events::VariantName;

use decode::Decoded;
use sandbox::Sandbox;

/// What may be asked of one image.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most pixels (width x height) an image may declare.
    pub max_pixels: u64,
}

/// Why a file cannot become a photo; the message is for the seller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a JPEG, PNG, WebP, HEIC or GIF image")]
    NotAnImage,
    #[error("the image is {width} x {height} pixels, more than the limit of {limit} pixels")]
    TooManyPixels { width: u64, height: u64, limit: u64 },
    #[error("the image file is damaged or incomplete ({0})")]
    Corrupt(String),
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the uploaded file's SHA-256 differs from the declared checksum_sha256")]
    ChecksumMismatch,
    #[error("the image's colour profile is larger than the limit of {limit} bytes")]
    ProfileTooLarge { limit: usize },
    #[error("the JPEG has more than {limit} progressive scans")]
    TooManyScans { limit: u32 },
    #[error("processing the image took longer than the limit of {limit}")]
    TooSlow { limit: String },
    #[error("the decoder crashed ({0})")]
    DecoderCrashed(String),
    #[error("the decoder ran out of its memory limit of {limit_mib} MiB")]
    DecoderOutOfMemory { limit_mib: u64 },
}

impl Rejection {
    /// The kind of refusal, as a metric's label: one of a few words, whatever the details.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Empty | Self::NotAnImage => "unsupported",
            Self::TooManyPixels { .. } => "too_many_pixels",
            Self::Corrupt(_) | Self::ProfileTooLarge { .. } | Self::TooManyScans { .. } => {
                "corrupt"
            }
            Self::TooLarge { .. } => "too_large",
            Self::ChecksumMismatch => "checksum",
            Self::TooSlow { .. } => "too_slow",
            Self::DecoderCrashed(_) => "decoder_crashed",
            Self::DecoderOutOfMemory { .. } => "decoder_memory",
        }
    }

    /// Whether the decoder process ended without an answer ([`sandbox`]).
    pub fn is_decoder_failure(&self) -> bool {
        matches!(
            self,
            Self::DecoderCrashed(_) | Self::DecoderOutOfMemory { .. }
        )
    }
}

/// One encoded variant.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub name: VariantName,
    pub width: u32,
    pub height: u32,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    /// The same pixels in other formats, for browsers that take them: WebP, when lighter
    /// enough than the primary ([`variants::WEBP_MOST`]).
    pub alternates: Vec<Alternate>,
}

/// One variant's pixels as shown (RGB, orientation applied), kept to encode the formats made
/// once the photo is ready ([`variants::later_formats`]).
#[derive(Debug, Clone)]
pub struct Pixels {
    pub name: VariantName,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
    /// The bytes of the variant's JPEG, which a later format must undercut to be offered.
    pub jpeg_bytes: usize,
}

/// What [`variants::later_formats`] made of a photo: the AVIF quality found (none when
/// there was nothing to encode) and the AVIF of each variant where it is lighter.
#[derive(Debug, Clone, Default)]
pub struct LaterFormats {
    pub quality: Option<u8>,
    pub formats: Vec<(VariantName, Alternate)>,
}

/// A variant in another format.
#[derive(Debug, Clone)]
pub struct Alternate {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The variants of one image, the original's dimensions as displayed (after orientation), and
/// what a page shows while it loads.
#[derive(Debug, Clone)]
pub struct Rendition {
    pub width: u32,
    pub height: u32,
    pub variants: Vec<Rendered>,
    pub placeholder: placeholder::Placeholder,
    /// The variants' pixels, largest first, for the formats made later (AVIF); empty for a
    /// transparent image, which gets none.
    pub later: Vec<Pixels>,
    /// The qualities this photo's variants were encoded at.
    pub qualities: quality::Qualities,
    /// How long each step took.
    pub timings: Timings,
}

/// The time a render spent in each of its steps (the processor's metrics, `catalog trace`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    pub decode: Duration,
    /// Resizing, the placeholder and turning upright.
    pub resize: Duration,
    /// Choosing the qualities ([`quality`]).
    pub choose: Duration,
    pub encode: Duration,
}

/// Makes the four variants of an image file, decoded in this process.
pub fn render(bytes: &[u8], limits: Limits) -> Result<Rendition, Rejection> {
    let started = Instant::now();
    let decoded = decode::decode(bytes, limits, VariantName::Large.max_side());
    finish(decoded, started)
}

/// Makes the four variants of an image file, decoded in a process of its own that may map
/// `memory` bytes ([`sandbox`]); an error when that process could not be started or confined,
/// which is no fault of the file.
pub fn render_sandboxed(
    bytes: &[u8],
    limits: Limits,
    sandbox: &Sandbox,
    memory: u64,
) -> io::Result<Result<Rendition, Rejection>> {
    let started = Instant::now();
    let decoded = sandbox.decode(bytes, limits, VariantName::Large.max_side(), memory)?;
    Ok(finish(decoded, started))
}

/// The variants of what a decode begun at `started` gave.
fn finish(decoded: Result<Decoded, Rejection>, started: Instant) -> Result<Rendition, Rejection> {
    let decode = started.elapsed();
    let mut rendition = variants::render(decoded?)?;
    rendition.timings.decode = decode;
    Ok(rendition)
}

#[cfg(test)]
mod tests;
