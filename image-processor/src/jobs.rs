//! What the images queue carries: a photo to render (it was uploaded, a reprocess was asked,
//! or a new original of it was uploaded), a deleted photo whose files go, a replaced photo
//! whose previous files go, a ready photo whose later formats were asked for,
//! or S3's own report of an original arriving (the
//! upload is recorded there if its client never said it was done).

use catalog_events::{EventEnvelope, PhotoEvent, TraceParent};
use catalog_runtime::queue::Body;
use serde::Deserialize;
use uuid::Uuid;

/// One message of the images queue: a photo event's job carries the event's trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    Render {
        photo: Uuid,
        trace: Option<TraceParent>,
        original: Original,
    },
    Purge {
        photo: Uuid,
        trace: Option<TraceParent>,
    },
    /// A photo shows its new original: what it showed before goes.
    PurgeReplaced {
        photo: Uuid,
        trace: Option<TraceParent>,
    },
    /// A ready photo's later formats (AVIF) were asked for.
    LaterFormats {
        photo: Uuid,
        trace: Option<TraceParent>,
    },
    /// An object arrived in the originals bucket under this key.
    Confirm { key: String },
}

/// Which original a render makes variants of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Original {
    /// The photo's own: it becomes ready, or fails.
    First,
    /// A new one replacing it: the photo shows it once rendered, and keeps the one before if
    /// it cannot be.
    Replacement,
}

/// The parts of an EventBridge event that tell S3's from ours.
#[derive(Deserialize)]
struct Event {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: serde_json::Value,
}

impl Body for Job {
    fn read(body: &str) -> Result<Self, String> {
        let event: Event = serde_json::from_str(body).map_err(|error| error.to_string())?;
        if event.source == "aws.s3" {
            if event.detail_type != "Object Created" {
                return Err(format!(
                    "an S3 event of another kind: {}",
                    event.detail_type
                ));
            }
            let key = event.detail["object"]["key"]
                .as_str()
                .ok_or("an S3 event without an object key")?;
            return Ok(Self::Confirm {
                key: key.to_owned(),
            });
        }
        let envelope = EventEnvelope::from_bus_message(body).map_err(|error| error.to_string())?;
        let (photo, trace) = (envelope.aggregate_id, envelope.traceparent);
        Ok(match envelope.event {
            PhotoEvent::PhotoDeleted { .. } => Self::Purge { photo, trace },
            PhotoEvent::PhotoFormatsRequested { .. } => Self::LaterFormats { photo, trace },
            PhotoEvent::PhotoReplaced { .. } => Self::PurgeReplaced { photo, trace },
            PhotoEvent::PhotoReplacementUploaded { .. } => Self::Render {
                photo,
                trace,
                original: Original::Replacement,
            },
            _ => Self::Render {
                photo,
                trace,
                original: Original::First,
            },
        })
    }
}

impl Job {
    /// The photo the job is about, if it names one (`prefix`: where originals are stored).
    pub fn photo(&self, prefix: &str) -> Option<Uuid> {
        match self {
            Self::Render { photo, .. }
            | Self::Purge { photo, .. }
            | Self::PurgeReplaced { photo, .. }
            | Self::LaterFormats { photo, .. } => Some(*photo),
            Self::Confirm { key } => Self::photo_of(key, prefix),
        }
    }

    /// The trace of the event that asked for the job (S3's reports carry none).
    pub fn trace(&self) -> Option<TraceParent> {
        match self {
            Self::Render { trace, .. }
            | Self::Purge { trace, .. }
            | Self::PurgeReplaced { trace, .. }
            | Self::LaterFormats { trace, .. } => *trace,
            Self::Confirm { .. } => None,
        }
    }

    /// The photo whose original is stored under `key` (`originals/<photo id>`), if any.
    /// Its first original is `<prefix><id>`, each new one `<prefix><id>.<n>`.
    pub fn photo_of(key: &str, prefix: &str) -> Option<Uuid> {
        let name = key.strip_prefix(prefix)?;
        let id = match name.split_once('.') {
            Some((id, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => id,
            Some(_) => return None,
            None => name,
        };
        Uuid::parse_str(id).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_reports_are_told_from_photo_events() {
        let created = r#"{"version":"0","id":"x","detail-type":"Object Created","source":"aws.s3",
            "detail":{"bucket":{"name":"catalog-originals"},"object":{"key":"originals/01a2","size":3}}}"#;
        assert_eq!(
            Job::read(created),
            Ok(Job::Confirm {
                key: "originals/01a2".into()
            })
        );
        let tagged = created.replace("Object Created", "Object Tags Added");
        assert!(Job::read(&tagged).is_err());
        assert!(Job::read("not json").is_err());
    }

    #[test]
    fn an_original_key_names_its_photo() {
        let photo = Uuid::now_v7();
        assert_eq!(
            Job::photo_of(&format!("originals/{photo}"), "originals/"),
            Some(photo)
        );
        assert_eq!(
            Job::photo_of(&format!("originals/{photo}.7"), "originals/"),
            Some(photo),
            "a new original of it"
        );
        assert_eq!(
            Job::photo_of(&format!("originals/{photo}.x"), "originals/"),
            None
        );
        assert_eq!(Job::photo_of("originals/not-a-photo", "originals/"), None);
        assert_eq!(
            Job::photo_of(&format!("elsewhere/{photo}"), "originals/"),
            None
        );
    }
}
