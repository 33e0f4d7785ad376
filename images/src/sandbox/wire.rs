//! What the processor and its decoder process say to each other, over the child's stdin and
//! stdout: little-endian fields of fixed size, then raw bytes. Hand-made rather than a
//! serialization crate because it is a dozen fields, and because the parent reads the answer
//! as a hostile file (a decoder that was exploited writes what it likes): every size is checked
//! against what was asked before a byte of pixels is allocated.

use std::io::{self, Read, Write};

use image::metadata::Orientation;
use image::{DynamicImage, RgbImage, RgbaImage};

use crate::decode::Decoded;
use crate::{Limits, Rejection};

/// The longest text of a rejection the parent takes (a library's error message).
const MAX_TEXT_BYTES: u64 = 1024;

/// What the parent asks of one child: its limits, then `length` bytes of the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Request {
    /// Bytes the child may map beyond what it had mapped when it started.
    pub memory: u64,
    /// CPU seconds the child may use.
    pub cpu_seconds: u64,
    pub max_pixels: u64,
    /// The longest side the decode must still cover ([`crate::decode::decode`]).
    pub cover: u32,
    /// The original's bytes that follow.
    pub length: u64,
}

impl Request {
    pub fn write(&self, to: &mut impl Write) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(36);
        for field in [self.memory, self.cpu_seconds, self.max_pixels] {
            bytes.extend_from_slice(&field.to_le_bytes());
        }
        bytes.extend_from_slice(&self.cover.to_le_bytes());
        bytes.extend_from_slice(&self.length.to_le_bytes());
        to.write_all(&bytes)
    }

    pub fn read(from: &mut impl Read) -> io::Result<Self> {
        Ok(Self {
            memory: u64_from(from)?,
            cpu_seconds: u64_from(from)?,
            max_pixels: u64_from(from)?,
            cover: u32_from(from)?,
            length: u64_from(from)?,
        })
    }
}

/// What the child did to confine itself, as it reports it (one byte of flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Confinement {
    /// Memory, CPU time, file descriptors and core dumps limited (`setrlimit`).
    pub rlimits: bool,
    /// Only the system calls of decoding allowed (a seccomp filter).
    pub seccomp: bool,
    /// No file system, network or signals outside the process (Landlock); `None` where the
    /// kernel has no Landlock.
    pub landlock: Option<Enforced>,
}

/// How much of a Landlock ruleset the kernel enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforced {
    Fully,
    /// The kernel's Landlock is older than the rules: the file system is still closed, the
    /// network or signals may not be.
    Partially,
}

impl Confinement {
    fn to_byte(self) -> u8 {
        u8::from(self.rlimits)
            | u8::from(self.seccomp) << 1
            | match self.landlock {
                None => 0,
                Some(Enforced::Partially) => 1 << 2,
                Some(Enforced::Fully) => 1 << 3,
            }
    }

    fn from_byte(byte: u8) -> Self {
        Self {
            rlimits: byte & 1 != 0,
            seccomp: byte & 1 << 1 != 0,
            landlock: if byte & 1 << 3 != 0 {
                Some(Enforced::Fully)
            } else if byte & 1 << 2 != 0 {
                Some(Enforced::Partially)
            } else {
                None
            },
        }
    }
}

impl std::fmt::Display for Confinement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let yes = |on: bool| if on { "on" } else { "off" };
        let landlock = match self.landlock {
            Some(Enforced::Fully) => "fully enforced",
            Some(Enforced::Partially) => "partially enforced",
            None => "not in this kernel",
        };
        write!(
            f,
            "rlimits {}, seccomp {}, landlock {landlock}",
            yes(self.rlimits),
            yes(self.seccomp)
        )
    }
}

/// The child's answer: its confinement, then the decoded image or the reason it refused it.
pub(super) fn write_answer(
    to: &mut impl Write,
    confinement: Confinement,
    decoded: &Result<Decoded, Rejection>,
) -> io::Result<()> {
    let mut header = vec![confinement.to_byte()];
    match decoded {
        Ok(decoded) => {
            let (channels, pixels) = match &decoded.image {
                DynamicImage::ImageRgb8(image) => (3, image.as_raw().as_slice()),
                DynamicImage::ImageRgba8(image) => (4, image.as_raw().as_slice()),
                // The decoders give RGB8 or RGBA8 only.
                _ => return Err(io::Error::other("pixels neither RGB8 nor RGBA8")),
            };
            header.push(0);
            header.extend_from_slice(&decoded.image.width().to_le_bytes());
            header.extend_from_slice(&decoded.image.height().to_le_bytes());
            header.push(channels);
            header.push(decoded.orientation.to_exif());
            header.extend_from_slice(&decoded.original.0.to_le_bytes());
            header.extend_from_slice(&decoded.original.1.to_le_bytes());
            to.write_all(&header)?;
            to.write_all(pixels)
        }
        Err(rejection) => {
            header.push(1);
            write_rejection(&mut header, rejection);
            to.write_all(&header)
        }
    }
}

/// Reads the child's answer, refusing one that does not fit what was asked (`limits`,
/// `cover`): an `InvalidData` error.
pub(super) fn read_answer(
    from: &mut impl Read,
    limits: Limits,
) -> io::Result<(Confinement, Result<Decoded, Rejection>)> {
    let confinement = Confinement::from_byte(u8_from(from)?);
    match u8_from(from)? {
        0 => Ok((confinement, Ok(read_decoded(from, limits)?))),
        1 => Ok((confinement, Err(read_rejection(from)?))),
        _ => Err(invalid("an unknown answer")),
    }
}

fn read_decoded(from: &mut impl Read, limits: Limits) -> io::Result<Decoded> {
    let (width, height) = (u32_from(from)?, u32_from(from)?);
    let channels = u8_from(from)?;
    let orientation =
        Orientation::from_exif(u8_from(from)?).ok_or_else(|| invalid("an orientation"))?;
    let original = (u32_from(from)?, u32_from(from)?);
    let pixels = u64::from(width) * u64::from(height);
    let declared = u64::from(original.0) * u64::from(original.1);
    if !matches!(channels, 3 | 4)
        || pixels == 0
        || pixels > declared
        || declared > limits.max_pixels
    {
        return Err(invalid("a size it was not asked for"));
    }
    let length = pixels * u64::from(channels);
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(usize::try_from(length).map_err(|_| invalid("a size"))?)
        .map_err(io::Error::other)?;
    from.take(length).read_to_end(&mut bytes)?;
    let image = if channels == 4 {
        RgbaImage::from_raw(width, height, bytes).map(DynamicImage::ImageRgba8)
    } else {
        RgbImage::from_raw(width, height, bytes).map(DynamicImage::ImageRgb8)
    }
    .ok_or_else(|| invalid("fewer pixels than it declared"))?;
    Ok(Decoded {
        image,
        orientation,
        original,
    })
}

fn write_rejection(to: &mut Vec<u8>, rejection: &Rejection) {
    let numbers = |to: &mut Vec<u8>, tag: u8, numbers: &[u64]| {
        to.push(tag);
        for number in numbers {
            to.extend_from_slice(&number.to_le_bytes());
        }
    };
    let text = |to: &mut Vec<u8>, tag: u8, text: &str| {
        let text = &text.as_bytes()[..text.len().min(MAX_TEXT_BYTES as usize)];
        numbers(to, tag, &[text.len() as u64]);
        to.extend_from_slice(text);
    };
    match rejection {
        Rejection::Empty => numbers(to, 0, &[]),
        Rejection::NotAnImage => numbers(to, 1, &[]),
        Rejection::TooManyPixels {
            width,
            height,
            limit,
        } => numbers(to, 2, &[*width, *height, *limit]),
        Rejection::Corrupt(reason) => text(to, 3, reason),
        Rejection::TooLarge { limit } => numbers(to, 4, &[*limit]),
        Rejection::ChecksumMismatch => numbers(to, 5, &[]),
        Rejection::ProfileTooLarge { limit } => numbers(to, 6, &[*limit as u64]),
        Rejection::TooManyScans { limit } => numbers(to, 7, &[u64::from(*limit)]),
        Rejection::TooSlow { limit } => text(to, 8, limit),
        Rejection::DecoderCrashed(how) => text(to, 9, how),
        Rejection::DecoderOutOfMemory { limit_mib } => numbers(to, 10, &[*limit_mib]),
    }
}

fn read_rejection(from: &mut impl Read) -> io::Result<Rejection> {
    let text = |from: &mut dyn Read| -> io::Result<String> {
        let length = u64_from(from)?;
        if length > MAX_TEXT_BYTES {
            return Err(invalid("a reason too long"));
        }
        let mut text = Vec::new();
        from.take(length).read_to_end(&mut text)?;
        Ok(String::from_utf8_lossy(&text).into_owned())
    };
    Ok(match u8_from(from)? {
        0 => Rejection::Empty,
        1 => Rejection::NotAnImage,
        2 => Rejection::TooManyPixels {
            width: u64_from(from)?,
            height: u64_from(from)?,
            limit: u64_from(from)?,
        },
        3 => Rejection::Corrupt(text(from)?),
        4 => Rejection::TooLarge {
            limit: u64_from(from)?,
        },
        5 => Rejection::ChecksumMismatch,
        6 => Rejection::ProfileTooLarge {
            limit: usize::try_from(u64_from(from)?).map_err(|_| invalid("a limit"))?,
        },
        7 => Rejection::TooManyScans {
            limit: u32::try_from(u64_from(from)?).map_err(|_| invalid("a limit"))?,
        },
        8 => Rejection::TooSlow { limit: text(from)? },
        9 => Rejection::DecoderCrashed(text(from)?),
        10 => Rejection::DecoderOutOfMemory {
            limit_mib: u64_from(from)?,
        },
        _ => return Err(invalid("an unknown reason")),
    })
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the decoder answered {what}"),
    )
}

fn u8_from(from: &mut (impl Read + ?Sized)) -> io::Result<u8> {
    let mut bytes = [0; 1];
    from.read_exact(&mut bytes)?;
    Ok(bytes[0])
}

fn u32_from(from: &mut (impl Read + ?Sized)) -> io::Result<u32> {
    let mut bytes = [0; 4];
    from.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

fn u64_from(from: &mut (impl Read + ?Sized)) -> io::Result<u64> {
    let mut bytes = [0; 8];
    from.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_pixels: 1_000 };

    fn round_trip(decoded: &Result<Decoded, Rejection>) -> io::Result<Result<Decoded, Rejection>> {
        let confinement = Confinement {
            rlimits: true,
            seccomp: true,
            landlock: Some(Enforced::Partially),
        };
        let mut bytes = Vec::new();
        write_answer(&mut bytes, confinement, decoded)?;
        let (read, answer) = read_answer(&mut bytes.as_slice(), LIMITS)?;
        assert_eq!(read, confinement);
        Ok(answer)
    }

    #[test]
    fn pixels_and_reasons_come_back_as_they_went() {
        let image = RgbaImage::from_fn(20, 10, |x, y| image::Rgba([x as u8, y as u8, 7, 200]));
        let decoded = Decoded {
            image: DynamicImage::ImageRgba8(image.clone()),
            orientation: Orientation::Rotate90,
            original: (40, 20),
        };
        let back = round_trip(&Ok(decoded)).unwrap().unwrap();
        assert_eq!(back.image, DynamicImage::ImageRgba8(image));
        assert_eq!(back.orientation, Orientation::Rotate90);
        assert_eq!(back.original, (40, 20));
        for rejection in [
            Rejection::NotAnImage,
            Rejection::TooManyPixels {
                width: 9,
                height: 9_000,
                limit: 1_000,
            },
            Rejection::Corrupt("libheif: no ftyp box".into()),
            Rejection::TooManyScans { limit: 100 },
        ] {
            let back = round_trip(&Err(rejection.clone())).unwrap();
            assert_eq!(back.err(), Some(rejection));
        }
    }

    #[test]
    fn an_answer_larger_than_asked_is_refused_before_its_pixels_are_read() {
        // 40 x 40 pixels, where the request allowed 1,000.
        let decoded = Decoded {
            image: DynamicImage::ImageRgb8(RgbImage::new(40, 40)),
            orientation: Orientation::NoTransforms,
            original: (40, 40),
        };
        let error = round_trip(&Ok(decoded)).err().unwrap();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_short_answer_is_refused() {
        let decoded = Decoded {
            image: DynamicImage::ImageRgb8(RgbImage::new(10, 10)),
            orientation: Orientation::NoTransforms,
            original: (10, 10),
        };
        let mut bytes = Vec::new();
        write_answer(&mut bytes, Confinement::default(), &Ok(decoded)).unwrap();
        bytes.truncate(bytes.len() - 1);
        let error = read_answer(&mut bytes.as_slice(), LIMITS).err().unwrap();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
