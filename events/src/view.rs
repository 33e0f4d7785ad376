//! The photo as the HTTP contract (`API.md`) shows it: in the read API's answers and in the
//! body of webhooks. One type, so that both always agree.

use std::collections::{BTreeMap, BTreeSet};

use crate::{AVIF, PhotoState, PhotoStatus, Placeholder, VariantName, WEBP};
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

/// A variant in another format, served like the variant, at the variant's size.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FormatView {
    pub url: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

/// A photo in an answer.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(example = PhotoView::example)]
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
    /// A ready-made `srcset` per content type (`image/avif`, `image/webp`, and the variants'
    /// own `image/jpeg` or `image/png`): each variant once, smallest first, in the lightest
    /// file a browser taking that type shows: a `<picture>` source's `srcset` as it is. Empty
    /// until the photo is ready.
    pub srcset: BTreeMap<String, String>,
    #[schema(format = "date-time")]
    pub created_at: String,
    #[schema(format = "date-time")]
    pub updated_at: String,
    /// The aggregate's sequence this view reflects (the write side's `version`).
    pub version: u64,
}

impl PhotoView {
    /// A ready photo, as the documents show one.
    pub fn example() -> serde_json::Value {
        let base = "https://img.example.com/variants/3f2b8c1e-5d4a-4e6f-9b7c-1a2d3e4f5a6b/4";
        let variant = |name: &str, width: u32, height: u32, bytes: u64| {
            serde_json::json!({
                "url": format!("{base}/{name}.jpg"), "width": width, "height": height,
                "bytes": bytes, "content_type": "image/jpeg",
                "formats": {
                    "image/webp": {"url": format!("{base}/{name}.webp"), "width": width, "height": height, "bytes": bytes * 7 / 10},
                    "image/avif": {"url": format!("{base}/{name}.avif"), "width": width, "height": height, "bytes": bytes / 2}
                }
            })
        };
        let set = |extension: &str| {
            [
                ("thumb", 150),
                ("small", 320),
                ("medium", 800),
                ("large", 1600),
            ]
            .map(|(name, width)| format!("{base}/{name}.{extension} {width}w"))
            .join(", ")
        };
        serde_json::json!({
            "photo_id": "3f2b8c1e-5d4a-4e6f-9b7c-1a2d3e4f5a6b",
            "product_id": "sku-1234", "seller_id": "seller-42",
            "caption": "Red leather shoe, side view", "alt_text": "A red leather shoe seen from the side",
            "tags": ["red", "leather"], "status": "ready", "failure_reason": null,
            "width": 4000, "height": 3000, "content_type": "image/jpeg",
            "variants": {
                "thumb": variant("thumb", 150, 113, 4211),
                "small": variant("small", 320, 240, 14080),
                "medium": variant("medium", 800, 600, 61440),
                "large": variant("large", 1600, 1200, 198_000)
            },
            "placeholder": {"dominant_color": "#a0522d", "thumbhash": "1QcSHQRnh493V4dIh4eXh1h4kJUI"},
            "srcset": {"image/avif": set("avif"), "image/webp": set("webp"), "image/jpeg": set("jpg")},
            "created_at": "2026-11-30T09:12:45.123456Z", "updated_at": "2026-11-30T09:12:49.654321Z",
            "version": 4
        })
    }

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
                            width: variant.width,
                            height: variant.height,
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
        let srcset = srcset(&variants);
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
            srcset,
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

/// Each content type's `srcset`, for a `<picture>` source of that type: every variant once,
/// smallest first, each in the lightest file a browser taking that type can show. A browser
/// uses only the first source whose type it takes, so the AVIF source holds a variant's AVIF
/// where it has one and its WebP or own file where not (every browser that shows AVIF shows
/// WebP and JPEG); the WebP source the same without AVIF; the variants' own type their own
/// files. A type none of the variants is offered in has no entry. A variant as wide as a
/// smaller one (an original smaller than the bounds is not upscaled) is left out, as a
/// `srcset` names each width once.
fn srcset(variants: &BTreeMap<VariantName, VariantView>) -> BTreeMap<String, String> {
    let mut sets: BTreeMap<String, Vec<(u32, &str)>> = BTreeMap::new();
    let offered: BTreeSet<&str> = variants
        .values()
        .flat_map(|variant| variant.formats.keys().map(String::as_str))
        .collect();
    for variant in variants.values() {
        let file = |content_type: &str| {
            variant
                .formats
                .get(content_type)
                .map(|format| format.url.as_str())
        };
        let lightest = |preferred: &[&str]| {
            preferred
                .iter()
                .find_map(|content_type| file(content_type))
                .unwrap_or(variant.url.as_str())
        };
        let mut sources = vec![(variant.content_type.as_str(), variant.url.as_str())];
        if offered.contains(WEBP) {
            sources.push((WEBP, lightest(&[WEBP])));
        }
        if offered.contains(AVIF) {
            sources.push((AVIF, lightest(&[AVIF, WEBP])));
        }
        for (content_type, url) in sources {
            let set = sets.entry(content_type.to_owned()).or_default();
            if set.iter().all(|(width, _)| *width != variant.width) {
                set.push((variant.width, url));
            }
        }
    }
    sets.into_iter()
        .map(|(content_type, mut set)| {
            set.sort_by_key(|(width, _)| *width);
            let text = set
                .iter()
                .map(|(width, url)| format!("{url} {width}w"))
                .collect::<Vec<_>>()
                .join(", ");
            (content_type, text)
        })
        .collect()
}

/// Whether `viewer` may see `state`: ready photos are public, the rest only their owner's.
pub fn visible_to(state: &PhotoState, viewer: Option<&str>) -> bool {
    state.status == PhotoStatus::Ready || viewer == Some(state.seller_id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(width: u32, name: &str, formats: &[&str]) -> VariantView {
        VariantView {
            url: format!("https://img/{name}.jpg"),
            width,
            height: width / 2,
            bytes: 100,
            content_type: "image/jpeg".into(),
            formats: formats
                .iter()
                .map(|format| {
                    let view = FormatView {
                        url: format!("https://img/{name}.{}", &format[6..]),
                        width,
                        height: width / 2,
                        bytes: 50,
                    };
                    ((*format).to_owned(), view)
                })
                .collect(),
        }
    }

    #[test]
    fn a_srcset_per_format_covers_every_width_in_the_lightest_file_offered() {
        let variants = BTreeMap::from([
            (VariantName::Thumb, variant(150, "thumb", &["image/webp"])),
            (
                VariantName::Small,
                variant(320, "small", &["image/webp", "image/avif"]),
            ),
            (VariantName::Large, variant(1600, "large", &["image/avif"])),
        ]);
        let sets = srcset(&variants);
        assert_eq!(
            sets["image/jpeg"],
            "https://img/thumb.jpg 150w, https://img/small.jpg 320w, https://img/large.jpg 1600w"
        );
        // Each source covers every width, in the lightest file its browsers can show.
        assert_eq!(
            sets["image/webp"],
            "https://img/thumb.webp 150w, https://img/small.webp 320w, https://img/large.jpg 1600w"
        );
        assert_eq!(
            sets["image/avif"],
            "https://img/thumb.webp 150w, https://img/small.avif 320w, https://img/large.avif 1600w"
        );
    }

    #[test]
    fn a_format_no_variant_is_offered_in_has_no_srcset() {
        let variants =
            BTreeMap::from([(VariantName::Thumb, variant(150, "thumb", &["image/webp"]))]);
        let sets = srcset(&variants);
        assert_eq!(
            sets.keys().collect::<Vec<_>>(),
            ["image/jpeg", "image/webp"]
        );
    }

    #[test]
    fn a_width_is_named_once_when_a_small_original_was_not_upscaled() {
        let variants = BTreeMap::from([
            (VariantName::Thumb, variant(150, "thumb", &[])),
            (VariantName::Small, variant(300, "small", &[])),
            (VariantName::Medium, variant(300, "medium", &[])),
            (VariantName::Large, variant(300, "large", &[])),
        ]);
        assert_eq!(
            srcset(&variants)["image/jpeg"],
            "https://img/thumb.jpg 150w, https://img/small.jpg 300w"
        );
    }

    #[test]
    fn a_photo_without_variants_has_no_srcset() {
        assert!(srcset(&BTreeMap::new()).is_empty());
    }
}
