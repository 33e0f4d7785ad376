//! What a tag is: the write side keeps a photo's tags in this form, and the read side looks a
//! tag up in the same form, so a filter finds what was written however it was typed.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 50;

/// `text` as a tag is kept (trimmed, NFC-composed), if it can be one: 1 to
/// [`MAX_TAG_CHARS`] characters, none a control character or [`hidden`].
pub fn normalize(text: &str) -> Option<String> {
    let tag: String = text.trim().nfc().collect();
    let chars = tag.chars().count();
    let printable = !tag.chars().any(|c| c.is_control() || hidden(c));
    ((1..=MAX_TAG_CHARS).contains(&chars) && printable).then_some(tag)
}

/// Whether `c` is invisible or changes the direction of text (Unicode categories Cf, Zl, Zp:
/// U+202E, zero-width spaces and joiners, U+2028...).
pub fn hidden(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_trimmed_and_composed_and_refused_empty_long_or_unprintable() {
        assert_eq!(normalize(" red ").as_deref(), Some("red"));
        assert_eq!(normalize("e\u{301}").as_deref(), Some("\u{e9}"));
        assert_eq!(normalize(&"x".repeat(50)).map(|tag| tag.len()), Some(50));
        for bad in [
            "",
            "  ",
            "a\nb",
            "t\u{200b}ag",
            "\u{202e}gat",
            &"x".repeat(51),
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }
}
