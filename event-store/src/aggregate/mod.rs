//! The `Photo` aggregate: the one place that decides what may happen to a photo.
//!
//! Lifecycle: `pending_upload → uploaded → processing → ready | failed`; a ready or failed photo
//! may be reprocessed (back to `uploaded`), and so may one stuck in `uploaded` or `processing`
//! for longer than [`STUCK_AFTER`]; any photo may be updated until it is deleted, and
//! deleted once. A rendered photo may be given a new original, which takes its place once
//! rendered (`replacement.rs`). The notifier records each webhook's outcome once, in any state (it is a fact
//! about the past, even of a photo deleted since). A command that is not allowed in the photo's state is refused with a
//! [`PhotoError`] that says why; a command that repeats what already happened (a second
//! upload-complete, a second delete, a redelivered processing start) succeeds and appends
//! nothing, so retries are harmless.
//!
//! The aggregate does no I/O: callers check S3 and pass what they saw in the command; time
//! comes from [`PhotoServices`].

use std::collections::BTreeMap;

use catalog_events::{
    PhotoEvent, PhotoState, PhotoStatus, Placeholder, ReplacementRequested, UploadRequested,
    Variant, VariantFormat, VariantName, Webhook,
};
use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

/// How long a photo may wait in `uploaded` or `processing` before its seller may ask for it to
/// be processed again: far past any job's deadline and its retries, so that only a photo whose
/// job was lost (not one under way) qualifies.
pub const STUCK_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// What can be asked of a photo. Commands a seller sends carry the seller's id, checked
/// against the photo's owner; the image processor's commands are the system's own.
#[derive(Debug, Clone, PartialEq)]
pub enum PhotoCommand {
    /// Declare a photo about to be uploaded. `occurred_at` is stamped by the aggregate.
    RequestUpload(UploadRequested),
    /// Declare a photo whose original is already stored (the multipart upload).
    RecordUpload {
        request: UploadRequested,
        stored_size: u64,
    },
    /// The original is in the bucket with this size (from a HEAD of the object).
    ConfirmUpload {
        seller_id: String,
        stored_size: u64,
    },
    /// The file arrived, but the photo cannot have it: its product became another seller's
    /// while it was pending. The photo fails with `reason`.
    RefuseUpload {
        reason: String,
    },
    StartProcessing,
    CompleteProcessing {
        width: u32,
        height: u32,
        variants: BTreeMap<VariantName, Variant>,
        placeholder: Option<Placeholder>,
        /// The other formats the render settled (see `PhotoProcessed`).
        formats_tried: Vec<String>,
    },
    /// Add the ready photo's variants in another format (`format`, a content type), made from
    /// the render in `folder` (where its variants are): a file for each variant where that
    /// format is lighter, in that folder; none when no variant is lighter in it.
    AddFormat {
        folder: String,
        format: String,
        files: BTreeMap<VariantName, VariantFormat>,
    },
    /// An operator's request that the ready photo's later formats be made (those of
    /// `formats` it has not settled).
    RequestFormats {
        formats: Vec<String>,
    },
    FailProcessing {
        reason: String,
    },
    UpdateDetails {
        seller_id: String,
        caption: Option<String>,
        alt_text: Option<String>,
        tags: Option<Vec<String>>,
    },
    /// Put the photo at `position` in the gallery of `product_id` (one photo's part of a
    /// reorder of the product's gallery).
    Place {
        seller_id: String,
        product_id: String,
        position: u32,
    },
    Delete {
        seller_id: String,
    },
    /// An operator's transfer of the photo's product from `from_seller_id` to `to_seller_id`
    /// (one photo's part of a product transfer).
    TransferProduct {
        from_seller_id: Option<String>,
        to_seller_id: String,
    },
    RequestReprocess {
        seller_id: String,
    },
    /// The notifier's outcome for a webhook: it is recorded once, and never for a state change
    /// older than one already settled.
    RecordWebhook(WebhookOutcome),
    /// The seller's new original for a photo that was rendered (ready, or failed since), with
    /// the details that change with it. A replacement declared and not uploaded yet is
    /// replaced by this one; one uploaded is being rendered, and this one waits.
    RequestReplacement {
        seller_id: String,
        request: ReplacementRequested,
    },
    /// The new original is in the bucket with `stored_size` bytes.
    ConfirmReplacement {
        seller_id: String,
        stored_size: u64,
    },
    /// The new original is rendered into these variants.
    CompleteReplacement {
        width: u32,
        height: u32,
        variants: BTreeMap<VariantName, Variant>,
        placeholder: Option<Placeholder>,
        formats_tried: Vec<String>,
    },
    /// The new original cannot be rendered: the photo keeps the one before.
    FailReplacement {
        reason: String,
    },
}

/// How a webhook delivery ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookOutcome {
    Delivered {
        webhook: Webhook,
        attempts: u32,
        status: u16,
    },
    GaveUp {
        webhook: Webhook,
        attempts: u32,
        last_status: Option<u16>,
        reason: String,
    },
}

impl WebhookOutcome {
    pub fn webhook(&self) -> &Webhook {
        match self {
            Self::Delivered { webhook, .. } | Self::GaveUp { webhook, .. } => webhook,
        }
    }
}

impl PhotoCommand {
    /// Whether the command brings a photo into existence.
    pub fn creates_photo(&self) -> bool {
        self.upload_request().is_some()
    }

    /// The request of a command that brings a photo into existence.
    pub fn upload_request(&self) -> Option<&UploadRequested> {
        match self {
            Self::RequestUpload(request) | Self::RecordUpload { request, .. } => Some(request),
            _ => None,
        }
    }
}

/// Why a command was refused. Each is the client's to fix, never a fault of the service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// No such photo, or another seller's (which must look the same).
    #[error("photo not found")]
    NotFound,
    #[error("the photo already exists")]
    AlreadyExists,
    #[error("cannot {action} a photo that is {status}")]
    NotAllowed {
        action: &'static str,
        status: PhotoStatus,
    },
    #[error("the stored object has {stored} bytes but {declared} were declared")]
    SizeMismatch { declared: u64, stored: u64 },
    #[error("the photo has no event {0} to announce")]
    NoSuchChange(u64),
    /// The product already belongs to another seller: its photos and their order are that
    /// seller's alone.
    #[error("product {0:?} belongs to another seller")]
    ProductOwned(String),
    /// A reorder named a photo of another product.
    #[error("the photo is not one of product {0:?}")]
    NotInProduct(String),
    /// Files of another format made from a render the photo no longer shows (reprocessed
    /// since), for a variant it does not have, or none at all.
    #[error("the files are not of the photo's current variants")]
    OtherRender,
    /// The photo (or a product's order) changed after the version a request was based on
    /// (its `If-Match`).
    #[error("it is at version {current} now, not at the one the request was based on")]
    VersionMoved { current: u64 },
}

/// The folder of a variant's file: every file of one render shares it.
fn folder(key: &str) -> &str {
    key.rsplit_once('/').map_or("", |(folder, _)| folder)
}

/// What the aggregate needs from outside: the time.
#[derive(Debug, Clone, Copy)]
pub struct PhotoServices {
    now: fn() -> DateTime<Utc>,
}

impl PhotoServices {
    /// Services with a clock (tests pass a fixed one).
    pub fn with_clock(now: fn() -> DateTime<Utc>) -> Self {
        Self { now }
    }

    fn now(&self) -> DateTime<Utc> {
        (self.now)()
    }
}

impl Default for PhotoServices {
    fn default() -> Self {
        Self::with_clock(Utc::now)
    }
}

/// A photo's event as cqrs-es handles it: the schema's [`PhotoEvent`], with the same JSON,
/// under cqrs-es's `DomainEvent`, so that the event schema itself depends on no event-store
/// crate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fact(pub PhotoEvent);

impl DomainEvent for Fact {
    fn event_type(&self) -> String {
        self.0.event_type().to_owned()
    }

    fn event_version(&self) -> String {
        self.0.event_version().to_owned()
    }
}

/// A photo as the write side knows it: the shared state fold, nothing more.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Photo {
    state: Option<PhotoState>,
}

impl From<PhotoState> for Photo {
    /// The photo at this state (from a snapshot).
    fn from(state: PhotoState) -> Self {
        Self { state: Some(state) }
    }
}

impl Photo {
    /// The photo's state, or `None` before it was requested.
    pub fn state(&self) -> Option<&PhotoState> {
        self.state.as_ref()
    }

    /// The photo, if it exists and `seller_id` owns it.
    fn owned_by(&self, seller_id: &str) -> Result<&PhotoState, PhotoError> {
        match &self.state {
            Some(state) if state.seller_id == seller_id => Ok(state),
            _ => Err(PhotoError::NotFound),
        }
    }

    fn existing(&self) -> Result<&PhotoState, PhotoError> {
        self.state.as_ref().ok_or(PhotoError::NotFound)
    }

    /// Decides a command: the events it causes, or why it is refused.
    fn decide(
        &self,
        command: PhotoCommand,
        now: DateTime<Utc>,
    ) -> Result<Vec<PhotoEvent>, PhotoError> {
        use PhotoStatus::*;
        let refuse = |action, status| Err(PhotoError::NotAllowed { action, status });
        match command {
            PhotoCommand::RequestUpload(request) => {
                if self.state.is_some() {
                    return Err(PhotoError::AlreadyExists);
                }
                Ok(vec![PhotoEvent::PhotoUploadRequested(UploadRequested {
                    occurred_at: now,
                    ..request
                })])
            }
            PhotoCommand::RecordUpload {
                request,
                stored_size,
            } => {
                let mut events = self.decide(PhotoCommand::RequestUpload(request), now)?;
                events.push(PhotoEvent::PhotoUploaded {
                    occurred_at: now,
                    size_bytes: stored_size,
                });
                Ok(events)
            }
            PhotoCommand::ConfirmUpload {
                seller_id,
                stored_size,
            } => {
                let photo = self.owned_by(&seller_id)?;
                match photo.status {
                    PendingUpload if stored_size != photo.size_bytes => {
                        Err(PhotoError::SizeMismatch {
                            declared: photo.size_bytes,
                            stored: stored_size,
                        })
                    }
                    PendingUpload => Ok(vec![PhotoEvent::PhotoUploaded {
                        occurred_at: now,
                        size_bytes: stored_size,
                    }]),
                    Deleted => refuse("confirm the upload of", Deleted),
                    Uploaded | Processing | Ready | Failed => Ok(vec![]),
                }
            }
            PhotoCommand::RefuseUpload { reason } => match self.existing()?.status {
                PendingUpload => Ok(vec![PhotoEvent::PhotoProcessingFailed {
                    occurred_at: now,
                    reason,
                }]),
                status => refuse("refuse the upload of", status),
            },
            PhotoCommand::StartProcessing => {
                let photo = self.existing()?;
                match photo.status {
                    Uploaded => Ok(vec![PhotoEvent::PhotoProcessingStarted {
                        occurred_at: now,
                        attempt: photo.processing_attempts + 1,
                    }]),
                    Processing => Ok(vec![]),
                    status => refuse("start processing", status),
                }
            }
            PhotoCommand::CompleteProcessing {
                width,
                height,
                variants,
                placeholder,
                formats_tried,
            } => match self.existing()?.status {
                Processing => Ok(vec![PhotoEvent::PhotoProcessed {
                    occurred_at: now,
                    width,
                    height,
                    variants,
                    placeholder,
                    formats_tried,
                }]),
                status => refuse("complete processing of", status),
            },
            PhotoCommand::AddFormat {
                folder: made_from,
                format,
                files,
            } => {
                let photo = self.existing()?;
                if photo.status != Ready {
                    return refuse("add a format to", photo.status);
                }
                let shown = photo
                    .variants
                    .values()
                    .next()
                    .map(|variant| folder(&variant.key));
                let of_this_render = shown == Some(made_from.as_str())
                    && files.iter().all(|(name, file)| {
                        photo.variants.contains_key(name) && folder(&file.key) == made_from
                    });
                if !of_this_render {
                    return Err(PhotoError::OtherRender);
                }
                if photo.formats_tried.contains(&format) {
                    return Ok(vec![]);
                }
                Ok(vec![PhotoEvent::PhotoFormatAdded {
                    occurred_at: now,
                    format,
                    files,
                }])
            }
            PhotoCommand::RequestFormats { formats } => {
                let photo = self.existing()?;
                if photo.status != Ready {
                    return refuse("make the later formats of", photo.status);
                }
                let formats: Vec<String> = formats
                    .into_iter()
                    .filter(|format| photo.lacks(format))
                    .collect();
                if formats.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![PhotoEvent::PhotoFormatsRequested {
                    occurred_at: now,
                    formats,
                }])
            }
            PhotoCommand::FailProcessing { reason } => match self.existing()?.status {
                Uploaded | Processing => Ok(vec![PhotoEvent::PhotoProcessingFailed {
                    occurred_at: now,
                    reason,
                }]),
                status => refuse("fail processing of", status),
            },
            PhotoCommand::UpdateDetails {
                seller_id,
                caption,
                alt_text,
                tags,
            } => {
                let photo = self.owned_by(&seller_id)?;
                if photo.status == Deleted {
                    return refuse("update", Deleted);
                }
                let caption = caption.filter(|new| photo.caption.as_deref().unwrap_or("") != new);
                let alt_text =
                    alt_text.filter(|new| photo.alt_text.as_deref().unwrap_or("") != new);
                let tags = tags.filter(|new| &photo.tags != new);
                if caption.is_none() && alt_text.is_none() && tags.is_none() {
                    return Ok(vec![]);
                }
                Ok(vec![PhotoEvent::PhotoDetailsUpdated {
                    occurred_at: now,
                    caption,
                    alt_text,
                    tags,
                }])
            }
            PhotoCommand::Place {
                seller_id,
                product_id,
                position,
            } => {
                let photo = self.owned_by(&seller_id)?;
                if photo.product_id != product_id {
                    return Err(PhotoError::NotInProduct(product_id));
                }
                match photo.status {
                    Deleted => refuse("reorder", Deleted),
                    _ if photo.position == Some(position) => Ok(vec![]),
                    _ => Ok(vec![PhotoEvent::PhotoReordered {
                        occurred_at: now,
                        position,
                    }]),
                }
            }
            PhotoCommand::Delete { seller_id } => match self.owned_by(&seller_id)?.status {
                Deleted => Ok(vec![]),
                _ => Ok(vec![PhotoEvent::PhotoDeleted { occurred_at: now }]),
            },
            PhotoCommand::TransferProduct {
                from_seller_id,
                to_seller_id,
            } => {
                self.existing()?;
                Ok(vec![PhotoEvent::PhotoProductTransferred {
                    occurred_at: now,
                    from_seller_id,
                    to_seller_id,
                }])
            }
            PhotoCommand::RequestReprocess { seller_id } => {
                let photo = self.owned_by(&seller_id)?;
                match photo.status {
                    Ready | Failed => {}
                    Uploaded | Processing if now - photo.in_status_since() >= STUCK_AFTER => {}
                    status => return refuse("reprocess", status),
                }
                Ok(vec![PhotoEvent::PhotoReprocessRequested {
                    occurred_at: now,
                }])
            }
            command @ (PhotoCommand::RequestReplacement { .. }
            | PhotoCommand::ConfirmReplacement { .. }
            | PhotoCommand::CompleteReplacement { .. }
            | PhotoCommand::FailReplacement { .. }) => self.decide_replacement(command, now),
            PhotoCommand::RecordWebhook(outcome) => {
                let photo = self.existing()?;
                let announced = outcome.webhook().for_sequence;
                if announced > photo.version {
                    return Err(PhotoError::NoSuchChange(announced));
                }
                if announced <= photo.notified_through {
                    return Ok(vec![]);
                }
                Ok(vec![match outcome {
                    WebhookOutcome::Delivered {
                        webhook,
                        attempts,
                        status,
                    } => PhotoEvent::PhotoWebhookDelivered {
                        occurred_at: now,
                        webhook,
                        attempts,
                        status,
                    },
                    WebhookOutcome::GaveUp {
                        webhook,
                        attempts,
                        last_status,
                        reason,
                    } => PhotoEvent::PhotoWebhookGaveUp {
                        occurred_at: now,
                        webhook,
                        attempts,
                        last_status,
                        reason,
                    },
                }])
            }
        }
    }
}

impl Aggregate for Photo {
    const TYPE: &'static str = catalog_events::AGGREGATE_TYPE;
    type Command = PhotoCommand;
    type Event = Fact;
    type Error = PhotoError;
    type Services = PhotoServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command, services.now())? {
            sink.write(Fact(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, Fact(event): Self::Event) {
        PhotoState::apply(&mut self.state, &event);
    }
}

mod replacement;
#[cfg(test)]
mod tests;
