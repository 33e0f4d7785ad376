//! The photo as the HTTP contract (`API.md`) shows it: in the read API's answers and in the
//! body of webhooks. One type, so that both always agree.

use std::collections::BTreeMap;

use crate::{PhotoState, PhotoStatus, Placeholder, VariantName};
use chrono::SecondsFormat;
use serde::Serialize;

/// One variant, with the URL it is served from (anonymously, with an immutable cache header).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct VariantView {
    pub url: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub content_type: String,
    /// The same variant in other formats, by content type (`image/webp`, `image/avif`), each
    /// listed only where its file is lighter than the variant's at the same look.
    pub formats: BTreeMap<String, FormatView>,
}

/// A variant in another format, served like the variant.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FormatView {
    pub url: String,
    pub bytes: u64,
}

/// A photo in an answer.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PhotoView {
    #[schema(format = "uuid")]
    pub photo_id: String,
    pub product_id: String,
    pub seller_id: String,
    pub caption: Option<String>,
    /// Describes the image to those who cannot see it.
    pub alt_text: Option<String>,
    pub tags: Vec<String>,
    pub status: PhotoStatus,
    pub failure_reason: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub content_type: String,
    /// `thumb`, `small`, `medium` and `large`, once the photo is ready.
    #[schema(value_type = BTreeMap<String, VariantView>)]
    pub variants: BTreeMap<VariantName, VariantView>,
    /// What to show while the photo loads, once it is ready.
    pub placeholder: Option<Placeholder>,
    #[schema(format = "date-time")]
    pub created_at: String,
    #[schema(format = "date-time")]
    pub updated_at: String,
    /// The aggregate's sequence this view reflects (the write side's `version`).
    pub version: u64,
}

impl PhotoView {
    /// The photo in `state`, its variants served from under `variants_base_url`.
    pub fn new(state: PhotoState, variants_base_url: &str) -> Self {
        let base = variants_base_url.trim_end_matches('/');
        let variants = state
            .variants
            .into_iter()
            .map(|(name, variant)| {
                let formats = variant
                    .formats
                    .into_iter()
                    .map(|(content_type, format)| {
                        let view = FormatView {
                            url: format!("{base}/{}", format.key),
                            bytes: format.bytes,
                        };
                        (content_type, view)
                    })
                    .collect();
                let view = VariantView {
                    url: format!("{base}/{}", variant.key),
                    width: variant.width,
                    height: variant.height,
                    bytes: variant.bytes,
                    content_type: variant.content_type,
                    formats,
                };
                (name, view)
            })
            .collect();
        Self {
            photo_id: state.photo_id.to_string(),
            product_id: state.product_id,
            seller_id: state.seller_id,
            caption: state.caption,
            alt_text: state.alt_text,
            tags: state.tags,
            status: state.status,
            failure_reason: state.failure_reason,
            width: state.width,
            height: state.height,
            content_type: state.content_type,
            variants,
            placeholder: state.placeholder,
            created_at: state
                .created_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            updated_at: state
                .updated_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            version: state.version,
        }
    }
}

/// Whether `viewer` may see `state`: ready photos are public, the rest only their owner's.
pub fn visible_to(state: &PhotoState, viewer: Option<&str>) -> bool {
    state.status == PhotoStatus::Ready || viewer == Some(state.seller_id.as_str())
}
