//! The answers of the command API, typed: what they serialize to is the contract, and the
//! OpenAPI document describes them from these types.

use std::collections::BTreeMap;

use catalog_events::{PhotoEvent, PhotoState, PhotoStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use catalog_event_store::originals::PresignedUpload;
use catalog_event_store::store::StoredEvent;

/// The answer of most commands: the photo's status and version after it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"photo_id": "3f2b8c1e-5d4a-4e6f-9b7c-1a2d3e4f5a6b", "status": "uploaded", "version": 2}))]
pub struct PhotoSummary {
    pub photo_id: Uuid,
    pub status: PhotoStatus,
    /// The aggregate's sequence after the command; the read side reports the same number.
    pub version: u64,
}

impl From<&PhotoState> for PhotoSummary {
    fn from(photo: &PhotoState) -> Self {
        Self {
            photo_id: photo.photo_id,
            status: photo.status,
            version: photo.version,
        }
    }
}

/// The answer of commands that do not change the photo's status.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"photo_id": "3f2b8c1e-5d4a-4e6f-9b7c-1a2d3e4f5a6b", "version": 5}))]
pub struct PhotoVersion {
    pub photo_id: Uuid,
    pub version: u64,
}

impl From<&PhotoState> for PhotoVersion {
    fn from(photo: &PhotoState) -> Self {
        Self {
            photo_id: photo.photo_id,
            version: photo.version,
        }
    }
}

/// A declared photo, and where to upload its original.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "photo_id": "3f2b8c1e-5d4a-4e6f-9b7c-1a2d3e4f5a6b", "status": "pending_upload", "version": 1,
    "upload": {
        "method": "PUT",
        "url": "https://originals.s3.amazonaws.com/originals/3f2b8c1e-5d4a-4e6f-9b7c-1a2d3e4f5a6b?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=…",
        "headers": {
            "content-type": "image/jpeg", "content-length": "2311040",
            "x-amz-checksum-sha256": "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
            "x-amz-tagging": "catalog-upload=pending", "if-none-match": "*"
        },
        "expires_at": "2026-11-30T09:27:45Z"
    }
}))]
pub struct CreatedPhoto {
    #[serde(flatten)]
    pub photo: PhotoSummary,
    pub upload: Upload,
}

/// How to upload the original: send `headers` exactly as given with a `PUT` of the file to
/// `url` (size, type and checksum are signed into it).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Upload {
    #[schema(example = "PUT")]
    pub method: &'static str,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

impl From<PresignedUpload> for Upload {
    fn from(upload: PresignedUpload) -> Self {
        Self {
            method: "PUT",
            url: upload.url,
            headers: upload.headers,
            expires_at: upload.expires_at,
        }
    }
}

/// A page of a photo's history, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "events": [
        {"sequence": 1, "event_type": "PhotoUploadRequested", "event_version": "1.0",
         "occurred_at": "2026-11-30T09:12:45.123456Z",
         "payload": {"type": "PhotoUploadRequested", "occurred_at": "2026-11-30T09:12:45.123456Z",
                     "photo_id": "3f2b8c1e-5d4a-4e6f-9b7c-1a2d3e4f5a6b", "product_id": "sku-1234",
                     "seller_id": "seller-42", "filename": "red-shoe.jpg", "content_type": "image/jpeg",
                     "size_bytes": 2311040, "object_key": "originals/3f2b8c1e-5d4a-4e6f-9b7c-1a2d3e4f5a6b"}},
        {"sequence": 2, "event_type": "PhotoDetailsUpdated", "event_version": "1.0",
         "occurred_at": "2026-11-30T09:20:01.000000Z",
         "payload": {"type": "PhotoDetailsUpdated", "occurred_at": "2026-11-30T09:20:01.000000Z",
                     "caption": "Red leather shoe, side view"}}
    ],
    "next_after": null
}))]
pub struct History {
    pub events: Vec<HistoryEvent>,
    /// The `after` of the next page, or `null` on the last.
    pub next_after: Option<u64>,
}

/// One stored event.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEvent {
    pub sequence: u64,
    pub event_type: &'static str,
    /// The version of the payload's shape when it was stored; `payload` is upcast to today's.
    pub event_version: String,
    pub occurred_at: DateTime<Utc>,
    /// The event itself: `{"type": event_type, ...its fields}`.
    #[schema(value_type = Object)]
    pub payload: PhotoEvent,
}

impl From<StoredEvent> for HistoryEvent {
    fn from(stored: StoredEvent) -> Self {
        Self {
            sequence: stored.sequence,
            event_type: stored.event.event_type(),
            event_version: stored.event_version,
            occurred_at: stored.event.occurred_at(),
            payload: stored.event,
        }
    }
}
