//! Checks on what sellers send, shared by the JSON and the multipart create and by PATCH.
//!
//! Precedence when several things are wrong: an unsupported type is `415`, a size over the
//! cap is `413`, and every other field problem is collected into one `422`.
//!
//! Text is what people read, so it may not hide anything: besides control characters, every
//! field refuses the invisible and direction-changing characters (Unicode categories Cf, Zl
//! and Zp: U+202E, zero-width spaces and joiners, U+2028...), which can make one product id or
//! filename look like another or reorder what a buyer reads. Text is stored NFC-normalized, so
//! the same words are the same bytes.

use catalog_events::tag::{MAX_TAG_CHARS, hidden};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use url::Url;

use catalog_http::problem::{Code, FieldError, Problem};

use catalog_callback_guard::CallbackPolicy;
use sqlx::PgPool;

use catalog_event_store::webhook_secrets;

/// The image types accepted on upload (the processor checks the bytes themselves).
pub const SUPPORTED_TYPES: [&str; 5] = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/heic",
    "image/heif",
];

const MAX_ID_CHARS: usize = 128;
const MAX_FILENAME_CHARS: usize = 255;
const MAX_CAPTION_CHARS: usize = 2000;
const MAX_ALT_TEXT_CHARS: usize = 500;
const MAX_TAGS: usize = 20;
const MAX_URL_CHARS: usize = 2048;

/// The fields that describe a new photo (`POST /v1/photos`; the multipart form has the same).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "product_id": "sku-1234", "filename": "red-shoe.jpg", "content_type": "image/jpeg",
    "size_bytes": 2311040,
    "checksum_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "caption": "Red leather shoe, side view", "alt_text": "A red leather shoe seen from the side",
    "tags": ["red", "leather"], "callback_url": "https://shop.example.com/hooks/photos"
}))]
pub struct NewPhoto {
    /// The product the photo shows.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*\S[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub product_id: String,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*\S[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub filename: String,
    /// The declared type; the processor trusts the file's bytes, not this.
    #[schema(example = "image/jpeg", pattern = "^image/(jpeg|png|webp)$")]
    pub content_type: String,
    /// The original's size in bytes, signed into the upload URL.
    #[schema(minimum = 1)]
    pub size_bytes: u64,
    /// Lower-case hex SHA-256 of the original, as `sha256sum` prints it.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub checksum_sha256: Option<String>,
    /// Line breaks and tabs are the only control characters it may hold.
    #[schema(
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub caption: Option<String>,
    /// Describes the image to those who cannot see it (up to 500 characters).
    #[schema(
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub alt_text: Option<String>,
    /// Up to 20 tags of 1 to 50 characters; trimmed, duplicates dropped.
    #[schema(max_items = 20)]
    pub tags: Option<Vec<String>>,
    /// Where to POST a signed webhook when the photo becomes ready or failed (https, public).
    #[schema(max_length = 2048, format = "uri")]
    pub callback_url: Option<String>,
}

/// `POST /v1/photos/{id}/replace`: a new original for a photo, described as a new photo's is,
/// less the product (the photo keeps its own); the caption, alt text, tags and callback URL
/// given replace the photo's, those left out stay as they are.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "filename": "red-shoe-reshot.jpg", "content_type": "image/jpeg", "size_bytes": 1982211,
    "checksum_sha256": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
}))]
pub struct NewOriginal {
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*\S[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub filename: String,
    /// The declared type; the processor trusts the file's bytes, not this.
    #[schema(example = "image/jpeg", pattern = "^image/(jpeg|png|webp)$")]
    pub content_type: String,
    /// The new original's size in bytes, signed into the upload URL.
    #[schema(minimum = 1)]
    pub size_bytes: u64,
    /// Lower-case hex SHA-256 of the new original, as `sha256sum` prints it.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub checksum_sha256: Option<String>,
    #[schema(
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub caption: Option<String>,
    #[schema(
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub alt_text: Option<String>,
    #[schema(max_items = 20)]
    pub tags: Option<Vec<String>>,
    #[schema(max_length = 2048, format = "uri")]
    pub callback_url: Option<String>,
}

impl NewOriginal {
    /// The same fields as a new photo of `product_id` has, so that they pass the same checks.
    pub fn of_product(self, product_id: String) -> NewPhoto {
        NewPhoto {
            product_id,
            filename: self.filename,
            content_type: self.content_type,
            size_bytes: self.size_bytes,
            checksum_sha256: self.checksum_sha256,
            caption: self.caption,
            alt_text: self.alt_text,
            tags: self.tags,
            callback_url: self.callback_url,
        }
    }
}

/// `PATCH /v1/photos/{id}`: the fields to change (at least one).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"caption": "Red leather shoe, side view", "tags": ["red", "leather", "sale"]}))]
pub struct DetailsPatch {
    /// An empty caption clears it. Line breaks and tabs are the only control characters it
    /// may hold.
    #[schema(
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub caption: Option<String>,
    /// An empty alt text clears it.
    #[schema(
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub alt_text: Option<String>,
    #[schema(max_items = 20)]
    pub tags: Option<Vec<String>>,
}

/// A new photo whose fields passed every check, normalised (tags trimmed and de-duplicated,
/// checksum lower case, empty caption dropped).
#[derive(Debug, Clone)]
pub struct ValidPhoto(pub NewPhoto);

pub fn new_photo(mut photo: NewPhoto, max_upload_bytes: u64) -> Result<ValidPhoto, Problem> {
    if !SUPPORTED_TYPES.contains(&photo.content_type.as_str()) {
        return Err(Problem::new(
            Code::UnsupportedType,
            format!(
                "content_type {:?} is not one of {}",
                photo.content_type,
                SUPPORTED_TYPES.join(", ")
            ),
        ));
    }
    if photo.size_bytes > max_upload_bytes {
        return Err(Problem::new(
            Code::TooLarge,
            format!(
                "size_bytes {} is over the limit of {max_upload_bytes} bytes",
                photo.size_bytes
            ),
        ));
    }
    let mut errors = Vec::new();
    photo.product_id = nfc(&photo.product_id);
    photo.filename = nfc(&photo.filename);
    text(
        "product_id",
        &photo.product_id,
        1,
        MAX_ID_CHARS,
        &mut errors,
    );
    text(
        "filename",
        &photo.filename,
        1,
        MAX_FILENAME_CHARS,
        &mut errors,
    );
    if photo.size_bytes == 0 {
        errors.push(FieldError::new("size_bytes", "must be at least 1"));
    }
    if let Some(checksum) = &mut photo.checksum_sha256 {
        checksum.make_ascii_lowercase();
        if checksum.len() != 64 || !checksum.bytes().all(|b| b.is_ascii_hexdigit()) {
            errors.push(FieldError::new(
                "checksum_sha256",
                "must be 64 hexadecimal digits (SHA-256)",
            ));
        }
    }
    photo.caption = caption(photo.caption.take(), &mut errors).filter(|c| !c.is_empty());
    photo.alt_text = alt_text(photo.alt_text.take(), &mut errors).filter(|a| !a.is_empty());
    photo.tags = tags(photo.tags.take(), &mut errors);
    if let Some(url) = &photo.callback_url {
        callback_url(url, &mut errors);
    }
    if errors.is_empty() {
        Ok(ValidPhoto(photo))
    } else {
        Err(Problem::invalid(errors))
    }
}

pub fn details(patch: DetailsPatch) -> Result<DetailsPatch, Problem> {
    let mut errors = Vec::new();
    if patch.caption.is_none() && patch.alt_text.is_none() && patch.tags.is_none() {
        errors.push(FieldError::new(
            "body",
            "give at least one of caption, alt_text and tags",
        ));
    }
    let patch = DetailsPatch {
        caption: caption(patch.caption, &mut errors),
        alt_text: alt_text(patch.alt_text, &mut errors),
        tags: tags(patch.tags, &mut errors),
    };
    if errors.is_empty() {
        Ok(patch)
    } else {
        Err(Problem::invalid(errors))
    }
}

/// Whether `product_id` could name a product (as `product_id` of a new photo is checked).
pub fn is_product_id(product_id: &str) -> bool {
    let mut errors = Vec::new();
    text("product_id", product_id, 1, MAX_ID_CHARS, &mut errors);
    errors.is_empty()
}

fn text(field: &str, value: &str, min: usize, max: usize, errors: &mut Vec<FieldError>) {
    let chars = value.chars().count();
    if value.trim().chars().count() < min || chars > max {
        errors.push(FieldError::new(
            field,
            format!("must be {min} to {max} characters"),
        ));
    } else if value.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    } else if value.chars().any(hidden) {
        errors.push(hidden_refused(field));
    }
}

/// A character that changes how text shows without showing itself: a format character (Cf:
/// direction overrides and isolates, zero-width spaces and joiners, the byte order mark...)
/// or a line or paragraph separator (Zl, Zp).
fn hidden_refused(field: &str) -> FieldError {
    FieldError::new(
        field,
        "must not contain invisible or direction-changing characters (such as U+200B or U+202E)",
    )
}

/// The text in Unicode's composed form (NFC).
fn nfc(value: &str) -> String {
    value.nfc().collect()
}

fn caption(caption: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    prose("caption", caption, MAX_CAPTION_CHARS, errors)
}

fn alt_text(alt_text: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    prose("alt_text", alt_text, MAX_ALT_TEXT_CHARS, errors)
}

/// Free text a person writes (a caption, an alt text): trimmed, at most `max` characters, and
/// no control characters but line breaks and tabs.
fn prose(
    field: &str,
    value: Option<String>,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = nfc(value?.trim());
    if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    } else if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    } else if value.chars().any(hidden) {
        errors.push(hidden_refused(field));
    }
    Some(value)
}

fn tags(tags: Option<Vec<String>>, errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
    let mut unique: Vec<String> = Vec::new();
    for tag in tags? {
        let Some(tag) = catalog_events::tag::normalize(&tag) else {
            errors.push(FieldError::new(
                "tags",
                format!(
                    "each tag must be 1 to {MAX_TAG_CHARS} printable characters, none invisible"
                ),
            ));
            break;
        };
        if !unique.contains(&tag) {
            unique.push(tag);
        }
    }
    if unique.len() > MAX_TAGS {
        errors.push(FieldError::new("tags", format!("at most {MAX_TAGS} tags")));
    }
    Some(unique)
}

/// Refuses (`422`) a `callback_url` that the notifier would not call: not https, or resolving
/// to an address that is not public (see `catalog-callback-guard`), or of a seller who has no
/// webhook secret yet to sign with.
pub async fn callback_allowed(
    policy: &CallbackPolicy,
    pool: &PgPool,
    seller: &str,
    photo: &ValidPhoto,
) -> Result<(), Problem> {
    let Some(url) = &photo.0.callback_url else {
        return Ok(());
    };
    let refused =
        |message: String| Problem::invalid(vec![FieldError::new("callback_url", message)]);
    policy
        .check(url)
        .await
        .map_err(|refusal| refused(refusal.to_string()))?;
    let has_secret = webhook_secrets::exists(pool, seller)
        .await
        .map_err(|error| super::database_problem(&error))?;
    if !has_secret {
        return Err(refused(
            "needs a webhook secret to sign with: POST /v1/webhook-secret first".into(),
        ));
    }
    Ok(())
}

fn callback_url(url: &str, errors: &mut Vec<FieldError>) {
    // The URL parser drops tabs and line breaks silently; a URL holding any is refused.
    let valid = url.len() <= MAX_URL_CHARS
        && !url.chars().any(|c| c.is_control() || c.is_whitespace())
        && Url::parse(url)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
    if !valid {
        errors.push(FieldError::new(
            "callback_url",
            "must be an absolute http(s) URL",
        ));
    }
}

/// Events a page of the history or the change feed holds when `limit` is not given, and at
/// most.
const DEFAULT_PAGE_LIMIT: u32 = 100;
const MAX_PAGE_LIMIT: u32 = 1000;

/// The `limit` of a page of events (the history, the change feed): 1 to 1000, 100 without.
pub fn page_limit(limit: Option<u32>) -> Result<u32, Problem> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_LIMIT);
    if (1..=MAX_PAGE_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(Problem::invalid(vec![FieldError::new(
            "limit",
            format!("must be 1 to {MAX_PAGE_LIMIT}"),
        )]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo() -> NewPhoto {
        NewPhoto {
            product_id: "sku-1".into(),
            filename: "shoe.jpg".into(),
            content_type: "image/jpeg".into(),
            size_bytes: 10,
            ..NewPhoto::default()
        }
    }

    #[test]
    fn tags_are_trimmed_and_deduplicated() {
        let ValidPhoto(valid) = new_photo(
            NewPhoto {
                tags: Some(vec![" red".into(), "red ".into(), "blue".into()]),
                ..photo()
            },
            100,
        )
        .unwrap();
        assert_eq!(valid.tags.unwrap(), ["red", "blue"]);
    }

    #[test]
    fn an_unsupported_type_is_415_before_anything_else() {
        let problem = new_photo(
            NewPhoto {
                content_type: "image/svg+xml".into(),
                size_bytes: 1000,
                ..photo()
            },
            100,
        )
        .unwrap_err();
        assert_eq!(problem.status, 415);
    }

    #[test]
    fn a_declared_size_over_the_cap_is_413() {
        let problem = new_photo(
            NewPhoto {
                size_bytes: 101,
                ..photo()
            },
            100,
        )
        .unwrap_err();
        assert_eq!(problem.status, 413);
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let problem = new_photo(
            NewPhoto {
                product_id: " ".into(),
                checksum_sha256: Some("xyz".into()),
                callback_url: Some("ftp://example.com/x".into()),
                size_bytes: 0,
                ..photo()
            },
            100,
        )
        .unwrap_err();
        assert_eq!(problem.status, 422);
        let fields: Vec<_> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "product_id",
                "size_bytes",
                "checksum_sha256",
                "callback_url"
            ]
        );
    }

    #[test]
    fn invisible_and_direction_changing_characters_are_refused_everywhere() {
        for hidden in [
            '\u{202E}', '\u{200B}', '\u{200D}', '\u{2028}', '\u{2029}', '\u{FEFF}',
        ] {
            let problem = new_photo(
                NewPhoto {
                    product_id: format!("sku{hidden}1"),
                    filename: format!("a{hidden}gpj.exe"),
                    caption: Some(format!("cap{hidden}tion")),
                    alt_text: Some(format!("al{hidden}t")),
                    tags: Some(vec![format!("t{hidden}ag")]),
                    ..photo()
                },
                100,
            )
            .unwrap_err();
            let fields: Vec<_> = problem.errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(
                fields,
                ["product_id", "filename", "caption", "alt_text", "tags"],
                "U+{:04X}",
                u32::from(hidden)
            );
        }
    }

    #[test]
    fn text_is_stored_composed() {
        let ValidPhoto(valid) = new_photo(
            NewPhoto {
                product_id: "cafe\u{301}".into(),
                caption: Some("n\u{303}".into()),
                tags: Some(vec!["e\u{301}".into(), "\u{e9}".into()]),
                ..photo()
            },
            100,
        )
        .unwrap();
        assert_eq!(valid.product_id, "caf\u{e9}");
        assert_eq!(valid.caption.unwrap(), "\u{f1}");
        assert_eq!(valid.tags.unwrap(), ["\u{e9}"], "one tag once composed");
    }

    #[test]
    fn an_empty_patch_is_refused() {
        let problem = details(DetailsPatch {
            caption: None,
            alt_text: None,
            tags: None,
        })
        .unwrap_err();
        assert_eq!(problem.status, 422);
    }
}
