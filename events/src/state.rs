//! The photo's full state, and the fold that builds it from events.
//!
//! [`PhotoState::apply`] is the only place that knows what an event does to a photo. The
//! aggregate folds with it to decide commands, the outbox relay to put the state after each
//! event into the envelope, and the resync to rebuild the read model; so they cannot disagree.
//! The fold records facts and never refuses one: deciding what may happen is the aggregate's job.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{PhotoEvent, Placeholder, UploadRequested, Variant, VariantName};

/// Where a photo is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhotoStatus {
    PendingUpload,
    Uploaded,
    Processing,
    Ready,
    Failed,
    Deleted,
}

impl PhotoStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingUpload => "pending_upload",
            Self::Uploaded => "uploaded",
            Self::Processing => "processing",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Deleted => "deleted",
        }
    }
}

impl fmt::Display for PhotoStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything known about one photo after a given event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotoState {
    pub photo_id: Uuid,
    pub seller_id: String,
    pub product_id: String,
    /// Empty once the photo's personal fields are forgotten.
    #[serde(default)]
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub checksum_sha256: Option<String>,
    pub caption: Option<String>,
    #[serde(default)]
    pub alt_text: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub callback_url: Option<String>,
    pub object_key: String,
    pub status: PhotoStatus,
    /// Its place in its product's gallery as the seller ordered it (1 first); `None` until the
    /// seller orders the gallery, and for photos added since (they follow, newest first).
    #[serde(default)]
    pub position: Option<u32>,
    pub failure_reason: Option<String>,
    /// Dimensions of the original after orientation, once processed.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub variants: BTreeMap<VariantName, Variant>,
    #[serde(default)]
    pub placeholder: Option<Placeholder>,
    /// The other formats settled for the render the photo shows (`image/webp`,
    /// `image/avif`), whether or not a variant came out lighter in them: a ready photo
    /// without `image/avif` here still has its AVIF to come ([`PhotoState::lacks`]).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub formats_tried: BTreeSet<String>,
    /// A new original declared for the photo and not rendered yet: until it is, the photo
    /// shows the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<Replacement>,
    /// How many times processing started, across reprocessing.
    pub processing_attempts: u32,
    /// The newest state change whose webhook was delivered or given up (its sequence):
    /// the notifier sends nothing for it or anything older again.
    #[serde(default)]
    pub notified_through: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the photo entered its status (`None` in states stored before it was kept: then
    /// `updated_at` is the best guess).
    #[serde(default)]
    pub status_since: Option<DateTime<Utc>>,
    /// The sequence of the last event folded in: the aggregate's version.
    pub version: u64,
}

/// A new original on its way to replace a photo's (see `PhotoReplacementRequested`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replacement {
    pub content_type: String,
    pub size_bytes: u64,
    pub checksum_sha256: Option<String>,
    pub object_key: String,
    /// Whether the file is in the bucket: it is being rendered then.
    pub uploaded: bool,
}

impl PhotoState {
    /// The state a photo starts in.
    pub fn new(requested: &UploadRequested) -> Self {
        Self {
            photo_id: requested.photo_id,
            seller_id: requested.seller_id.clone(),
            product_id: requested.product_id.clone(),
            filename: requested.filename.clone(),
            content_type: requested.content_type.clone(),
            size_bytes: requested.size_bytes,
            checksum_sha256: requested.checksum_sha256.clone(),
            caption: requested.caption.clone(),
            alt_text: requested.alt_text.clone(),
            tags: requested.tags.clone(),
            callback_url: requested.callback_url.clone(),
            object_key: requested.object_key.clone(),
            status: PhotoStatus::PendingUpload,
            position: None,
            failure_reason: None,
            width: None,
            height: None,
            variants: BTreeMap::new(),
            placeholder: None,
            formats_tried: BTreeSet::new(),
            replacement: None,
            processing_attempts: 0,
            notified_through: 0,
            created_at: requested.occurred_at,
            updated_at: requested.occurred_at,
            status_since: Some(requested.occurred_at),
            version: 1,
        }
    }

    /// Folds one event into a photo's state. `state` is `None` before the first event; an
    /// event other than `PhotoUploadRequested` on no state cannot come from a consistent store
    /// and is ignored, as is an upload request on an existing photo.
    pub fn apply(state: &mut Option<Self>, event: &PhotoEvent) {
        match (state.as_mut(), event) {
            (None, PhotoEvent::PhotoUploadRequested(requested)) => {
                *state = Some(Self::new(requested));
            }
            (Some(photo), event) => photo.apply_to_existing(event),
            (None, _) => {}
        }
    }

    /// Folds a whole ordered stream of one photo's events.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a PhotoEvent>) -> Option<Self> {
        let mut state = None;
        for event in events {
            Self::apply(&mut state, event);
        }
        state
    }

    /// When the photo entered its status.
    pub fn in_status_since(&self) -> DateTime<Utc> {
        self.status_since.unwrap_or(self.updated_at)
    }

    /// Whether the photo is ready and `format` was never settled for the render it shows (a
    /// render from before the format existed, or a processor stopped before it was made).
    pub fn lacks(&self, format: &str) -> bool {
        self.status == PhotoStatus::Ready && !self.formats_tried.contains(format)
    }

    /// Caption, alt text and tags as an edit gives them: `None` leaves one as it is, an empty
    /// caption or alt text clears it.
    fn describe(
        &mut self,
        caption: Option<&String>,
        alt_text: Option<&String>,
        tags: Option<&Vec<String>>,
    ) {
        if let Some(caption) = caption {
            self.caption = (!caption.is_empty()).then(|| caption.clone());
        }
        if let Some(alt_text) = alt_text {
            self.alt_text = (!alt_text.is_empty()).then(|| alt_text.clone());
        }
        if let Some(tags) = tags {
            self.tags = tags.clone();
        }
    }

    /// The photo is ready, showing a render's variants.
    fn show_render(
        &mut self,
        width: u32,
        height: u32,
        variants: &BTreeMap<VariantName, Variant>,
        placeholder: &Option<Placeholder>,
        formats_tried: &[String],
    ) {
        self.status = PhotoStatus::Ready;
        self.width = Some(width);
        self.height = Some(height);
        self.variants = variants.clone();
        self.placeholder = placeholder.clone();
        self.formats_tried = formats_tried.iter().cloned().collect();
        self.failure_reason = None;
    }

    fn apply_to_existing(&mut self, event: &PhotoEvent) {
        let status = self.status;
        match event {
            PhotoEvent::PhotoUploadRequested(_) => return,
            PhotoEvent::PhotoUploaded { size_bytes, .. } => {
                self.status = PhotoStatus::Uploaded;
                self.size_bytes = *size_bytes;
            }
            PhotoEvent::PhotoProcessingStarted { attempt, .. } => {
                self.status = PhotoStatus::Processing;
                self.processing_attempts = *attempt;
                self.failure_reason = None;
            }
            PhotoEvent::PhotoProcessed {
                width,
                height,
                variants,
                placeholder,
                formats_tried,
                ..
            } => self.show_render(*width, *height, variants, placeholder, formats_tried),
            PhotoEvent::PhotoFormatAdded { format, files, .. } => {
                for (name, file) in files {
                    if let Some(variant) = self.variants.get_mut(name) {
                        variant.formats.insert(format.clone(), file.clone());
                    }
                }
                self.formats_tried.insert(format.clone());
            }
            PhotoEvent::PhotoFormatsRequested { .. } => {
                // A request of work: what the photo shows is unchanged.
                self.version += 1;
                return;
            }
            PhotoEvent::PhotoProcessingFailed { reason, .. } => {
                self.status = PhotoStatus::Failed;
                self.failure_reason = Some(reason.clone());
                self.variants.clear();
                self.placeholder = None;
                self.formats_tried.clear();
            }
            PhotoEvent::PhotoDetailsUpdated {
                caption,
                alt_text,
                tags,
                ..
            } => self.describe(caption.as_ref(), alt_text.as_ref(), tags.as_ref()),
            PhotoEvent::PhotoReplacementRequested(requested) => {
                self.filename = requested.filename.clone();
                self.describe(
                    requested.caption.as_ref(),
                    requested.alt_text.as_ref(),
                    requested.tags.as_ref(),
                );
                if let Some(url) = &requested.callback_url {
                    self.callback_url = (!url.is_empty()).then(|| url.clone());
                }
                self.replacement = Some(Replacement {
                    content_type: requested.content_type.clone(),
                    size_bytes: requested.size_bytes,
                    checksum_sha256: requested.checksum_sha256.clone(),
                    object_key: requested.object_key.clone(),
                    uploaded: false,
                });
            }
            PhotoEvent::PhotoReplacementUploaded { size_bytes, .. } => {
                if let Some(replacement) = &mut self.replacement {
                    replacement.uploaded = true;
                    replacement.size_bytes = *size_bytes;
                }
            }
            PhotoEvent::PhotoReplaced {
                width,
                height,
                variants,
                placeholder,
                formats_tried,
                ..
            } => {
                if let Some(replacement) = self.replacement.take() {
                    self.content_type = replacement.content_type;
                    self.size_bytes = replacement.size_bytes;
                    self.checksum_sha256 = replacement.checksum_sha256;
                    self.object_key = replacement.object_key;
                }
                self.show_render(*width, *height, variants, placeholder, formats_tried);
            }
            PhotoEvent::PhotoReplacementFailed { .. } => {
                self.replacement = None;
            }
            PhotoEvent::PhotoReordered { position, .. } => {
                self.position = Some(*position);
            }
            PhotoEvent::PhotoDeleted { .. } => {
                self.status = PhotoStatus::Deleted;
                self.replacement = None;
            }
            PhotoEvent::PhotoProductTransferred { to_seller_id, .. } => {
                if self.seller_id != *to_seller_id && self.status != PhotoStatus::Deleted {
                    self.status = PhotoStatus::Failed;
                    self.failure_reason = Some(format!(
                        "product {:?} was transferred to another seller",
                        self.product_id
                    ));
                    self.variants.clear();
                    self.placeholder = None;
                    self.formats_tried.clear();
                    self.position = None;
                }
            }
            PhotoEvent::PhotoReprocessRequested { .. } => {
                // The current variants stay served until the new ones replace them.
                self.status = PhotoStatus::Uploaded;
                self.failure_reason = None;
            }
            PhotoEvent::PhotoWebhookDelivered { webhook, .. }
            | PhotoEvent::PhotoWebhookGaveUp { webhook, .. } => {
                // A delivery tells about the photo; it does not change it.
                self.notified_through = self.notified_through.max(webhook.for_sequence);
                self.version += 1;
                return;
            }
        }
        self.updated_at = event.occurred_at();
        if self.status != status {
            self.status_since = Some(self.updated_at);
        }
        self.version += 1;
    }
}
