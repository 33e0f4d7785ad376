//! The photo's domain events.
//!
//! Each variant is a fact that happened to one photo, in the past tense. The JSON of an event
//! is internally tagged (`{"type": "PhotoUploaded", ...}`) and is what the event store keeps
//! as the payload, so renaming a field or a variant is a breaking change: add a new event
//! version and an upcaster (see [`crate::upcast`]) instead.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The content type of the format every render tries beside each variant's JPEG or PNG.
pub const WEBP: &str = "image/webp";
/// The content type of the format made after a photo is ready (see `PhotoFormatAdded`).
pub const AVIF: &str = "image/avif";

/// One fact about a photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum PhotoEvent {
    /// A seller declared a photo it is about to upload; the photo now exists, pending upload.
    PhotoUploadRequested(UploadRequested),
    /// The original is in the originals bucket and matches what was declared.
    PhotoUploaded {
        occurred_at: DateTime<Utc>,
        /// Size of the stored original, as S3 reported it.
        size_bytes: u64,
    },
    /// The image processor took the photo; `attempt` counts from 1 across reprocessing.
    PhotoProcessingStarted {
        occurred_at: DateTime<Utc>,
        attempt: u32,
    },
    /// The variants are in the variants bucket; the photo is ready.
    PhotoProcessed {
        occurred_at: DateTime<Utc>,
        /// Dimensions of the original after EXIF orientation.
        width: u32,
        height: u32,
        variants: BTreeMap<VariantName, Variant>,
        /// What a page shows while the photo loads (absent from events stored before 1.1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        placeholder: Option<Placeholder>,
        /// The other formats this render settled for every variant (`image/webp`, and
        /// `image/avif` when no AVIF is to follow): each variant lists those that came out
        /// lighter. Absent from events stored before 1.2, whose render settled none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        formats_tried: Vec<String>,
    },
    /// The ready photo's variants were made in another format after it was ready (AVIF,
    /// whose best encoder settings take longer than a photo should wait to be ready): one
    /// file per variant of the render the photo shows where that format is lighter, by
    /// `format`'s content type; none when no variant is lighter in it.
    PhotoFormatAdded {
        occurred_at: DateTime<Utc>,
        format: String,
        files: BTreeMap<VariantName, VariantFormat>,
    },
    /// An operator (`catalog backfill`, or the nightly resync) asked for the ready photo's
    /// later formats (`image/avif`) to be made: it has none yet.
    PhotoFormatsRequested {
        occurred_at: DateTime<Utc>,
        formats: Vec<String>,
    },
    /// The seller declared a new original for the photo (`POST /v1/photos/{id}/replace`); the
    /// current one is served until the new one is rendered.
    PhotoReplacementRequested(ReplacementRequested),
    /// The new original is in the originals bucket and matches what was declared.
    PhotoReplacementUploaded {
        occurred_at: DateTime<Utc>,
        size_bytes: u64,
    },
    /// The new original is rendered: the photo shows it, under the same id, product and place
    /// in its gallery; the previous original and variants go.
    PhotoReplaced {
        occurred_at: DateTime<Utc>,
        width: u32,
        height: u32,
        variants: BTreeMap<VariantName, Variant>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        placeholder: Option<Placeholder>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        formats_tried: Vec<String>,
    },
    /// The new original could not be rendered (`reason`, for the seller): the photo keeps
    /// showing the one before.
    PhotoReplacementFailed {
        occurred_at: DateTime<Utc>,
        reason: String,
    },
    /// Processing gave up; `reason` is written for the seller.
    PhotoProcessingFailed {
        occurred_at: DateTime<Utc>,
        reason: String,
    },
    /// Caption, alt text and/or tags changed. `None` leaves a field as it was; an empty
    /// caption or alt text clears it.
    PhotoDetailsUpdated {
        occurred_at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alt_text: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tags: Option<Vec<String>>,
    },
    /// The seller ordered its product's gallery: this photo is at `position` (1 is the
    /// primary photo). One reorder appends one of these to each photo whose place changed, in
    /// one transaction.
    PhotoReordered {
        occurred_at: DateTime<Utc>,
        position: u32,
    },
    /// The seller deleted the photo. Nothing follows a deletion.
    PhotoDeleted { occurred_at: DateTime<Utc> },
    /// An operator gave the photo's product to another seller (`catalog product transfer`),
    /// settling a dispute. Each photo of the product gets one, deleted ones too, so the
    /// product's history shows who owned it when; a live photo of another seller than the new
    /// owner leaves the gallery, `failed` with the reason.
    PhotoProductTransferred {
        occurred_at: DateTime<Utc>,
        /// The owner before, if the product had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_seller_id: Option<String>,
        to_seller_id: String,
    },
    /// The seller asked for the variants to be made again.
    PhotoReprocessRequested { occurred_at: DateTime<Utc> },
    /// The photo's `callback_url` accepted the webhook (a 2xx answer).
    PhotoWebhookDelivered {
        occurred_at: DateTime<Utc>,
        webhook: Webhook,
        /// Attempts made, this one included.
        attempts: u32,
        status: u16,
    },
    /// The notifier stopped trying to deliver the webhook.
    PhotoWebhookGaveUp {
        occurred_at: DateTime<Utc>,
        webhook: Webhook,
        attempts: u32,
        /// The receiver's last answer, if one came.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_status: Option<u16>,
        /// Why, for the seller (the last error, or why the address was refused).
        reason: String,
    },
}

/// The webhook that announces one state change of a photo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// The `webhook-id` header: the same on every attempt, so receivers can drop duplicates.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: WebhookKind,
    /// The sequence of the event it announces.
    pub for_sequence: u64,
}

/// What a webhook announces; its `type` in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookKind {
    #[serde(rename = "photo.ready")]
    PhotoReady,
    #[serde(rename = "photo.failed")]
    PhotoFailed,
}

impl WebhookKind {
    /// The webhook an event calls for, if any.
    pub fn announcing(event: &PhotoEvent) -> Option<Self> {
        match event {
            PhotoEvent::PhotoProcessed { .. } | PhotoEvent::PhotoReplaced { .. } => {
                Some(Self::PhotoReady)
            }
            PhotoEvent::PhotoProcessingFailed { .. } => Some(Self::PhotoFailed),
            _ => None,
        }
    }
}

/// A new original declared for a photo, and the details that change with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplacementRequested {
    pub occurred_at: DateTime<Utc>,
    /// Empty once the photo's personal fields are forgotten.
    #[serde(default)]
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_sha256: Option<String>,
    /// Where the new original goes in the originals bucket.
    pub object_key: String,
    /// The caption, alt text, tags and callback URL given with it (`None` leaves each as it
    /// is; an empty caption or alt text clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// The first event of every photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequested {
    pub occurred_at: DateTime<Utc>,
    pub photo_id: Uuid,
    pub seller_id: String,
    pub product_id: String,
    /// Empty once the photo's personal fields are forgotten, as are `caption`, `alt_text`,
    /// `tags` and `callback_url` (the event store keeps them sealed under the photo's own key).
    #[serde(default)]
    pub filename: String,
    /// The content type the seller declared; the image processor trusts the bytes instead.
    pub content_type: String,
    pub size_bytes: u64,
    /// Lower-case hex SHA-256 of the original, when the seller declared one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// The text that describes the image to those who cannot see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_text: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Where the original lives in the originals bucket.
    pub object_key: String,
}

impl PhotoEvent {
    /// The event's name as stored (`event_type`) and as routed on the bus (`detail-type`).
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::PhotoUploadRequested(_) => "PhotoUploadRequested",
            Self::PhotoUploaded { .. } => "PhotoUploaded",
            Self::PhotoProcessingStarted { .. } => "PhotoProcessingStarted",
            Self::PhotoProcessed { .. } => "PhotoProcessed",
            Self::PhotoFormatAdded { .. } => "PhotoFormatAdded",
            Self::PhotoFormatsRequested { .. } => "PhotoFormatsRequested",
            Self::PhotoReplacementRequested(_) => "PhotoReplacementRequested",
            Self::PhotoReplacementUploaded { .. } => "PhotoReplacementUploaded",
            Self::PhotoReplaced { .. } => "PhotoReplaced",
            Self::PhotoReplacementFailed { .. } => "PhotoReplacementFailed",
            Self::PhotoProcessingFailed { .. } => "PhotoProcessingFailed",
            Self::PhotoDetailsUpdated { .. } => "PhotoDetailsUpdated",
            Self::PhotoDeleted { .. } => "PhotoDeleted",
            Self::PhotoProductTransferred { .. } => "PhotoProductTransferred",
            Self::PhotoReprocessRequested { .. } => "PhotoReprocessRequested",
            Self::PhotoReordered { .. } => "PhotoReordered",
            Self::PhotoWebhookDelivered { .. } => "PhotoWebhookDelivered",
            Self::PhotoWebhookGaveUp { .. } => "PhotoWebhookGaveUp",
        }
    }

    /// The version of this event's payload shape (see [`crate::upcast`]).
    pub fn event_version(&self) -> &'static str {
        crate::upcast::current_version(self.event_type())
    }

    /// When the fact happened.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Self::PhotoUploadRequested(requested) => requested.occurred_at,
            Self::PhotoReplacementRequested(requested) => requested.occurred_at,
            Self::PhotoUploaded { occurred_at, .. }
            | Self::PhotoProcessingStarted { occurred_at, .. }
            | Self::PhotoProcessed { occurred_at, .. }
            | Self::PhotoFormatAdded { occurred_at, .. }
            | Self::PhotoFormatsRequested { occurred_at, .. }
            | Self::PhotoReplacementUploaded { occurred_at, .. }
            | Self::PhotoReplaced { occurred_at, .. }
            | Self::PhotoReplacementFailed { occurred_at, .. }
            | Self::PhotoProcessingFailed { occurred_at, .. }
            | Self::PhotoDetailsUpdated { occurred_at, .. }
            | Self::PhotoDeleted { occurred_at }
            | Self::PhotoProductTransferred { occurred_at, .. }
            | Self::PhotoReprocessRequested { occurred_at }
            | Self::PhotoReordered { occurred_at, .. }
            | Self::PhotoWebhookDelivered { occurred_at, .. }
            | Self::PhotoWebhookGaveUp { occurred_at, .. } => *occurred_at,
        }
    }
}

/// The four sizes the image processor makes of every photo.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum VariantName {
    Thumb,
    Small,
    Medium,
    Large,
}

impl VariantName {
    /// Every variant, smallest first.
    pub const ALL: [Self; 4] = [Self::Thumb, Self::Small, Self::Medium, Self::Large];

    /// The bound on the variant's longest side, in pixels.
    pub fn max_side(self) -> u32 {
        match self {
            Self::Thumb => 150,
            Self::Small => 320,
            Self::Medium => 800,
            Self::Large => 1600,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Thumb => "thumb",
            Self::Small => "small",
            Self::Medium => "medium",
            Self::Large => "large",
        }
    }
}

impl fmt::Display for VariantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One resized copy of a photo in the variants bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Object key in the variants bucket; readers turn it into a URL.
    pub key: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub content_type: String,
    /// The same variant in other formats, by content type (`image/webp`, `image/avif`), each
    /// listed only where its file is lighter than the variant's at the same look.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub formats: BTreeMap<String, VariantFormat>,
}

/// A variant in another format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantFormat {
    pub key: String,
    pub bytes: u64,
}

/// What a page shows while a photo loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Placeholder {
    /// The colour most of the image has, `#rrggbb`.
    #[schema(example = "#a0522d")]
    pub dominant_color: String,
    /// A ThumbHash of the image (base64): a blurred preview a page decodes in a few lines.
    pub thumbhash: String,
}
