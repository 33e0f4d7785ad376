//! The media types an original may be, told by its bytes: pure, so the command API can check
//! an upload's first bytes without linking the codecs that the image pipeline decodes them
//! with, and both agree on what a file is.

/// The media types an original may be, told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Jpeg,
    Png,
    WebP,
    Gif,
    /// HEIF holding HEVC (brands `heic`, `heix`, ...).
    Heic,
    /// HEIF of the generic brands (`mif1`, `msf1`).
    Heif,
}

impl MediaType {
    /// The format a file's first bytes show.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        match head {
            [0xFF, 0xD8, 0xFF, ..] => Some(Self::Jpeg),
            [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(Self::Png),
            [
                b'R',
                b'I',
                b'F',
                b'F',
                _,
                _,
                _,
                _,
                b'W',
                b'E',
                b'B',
                b'P',
                ..,
            ] => Some(Self::WebP),
            [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(Self::Gif),
            // An ISO base media file: its major brand says what it holds.
            [_, _, _, _, b'f', b't', b'y', b'p', brand @ ..] => match brand.get(..4)? {
                b"heic" | b"heix" | b"heim" | b"heis" => Some(Self::Heic),
                b"mif1" | b"msf1" => Some(Self::Heif),
                _ => None,
            },
            _ => None,
        }
    }

    /// Its IANA media type, as `Content-Type` names it.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::WebP => "image/webp",
            Self::Gif => "image/gif",
            Self::Heic => "image/heic",
            Self::Heif => "image/heif",
        }
    }
}
