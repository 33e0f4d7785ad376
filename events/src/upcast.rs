//! Event versioning.
//!
//! Stored events are never rewritten. When an event's payload shape changes, its version here
//! goes up and a function brings every older shape to the current one as the event is read, so
//! that every reader (the aggregate, the relay, the resync, the history API) sees one shape.
//!
//! Versions so far:
//!
//! | event | version | change |
//! | --- | --- | --- |
//! | `PhotoUploadRequested` | 1.0 | first shape: `tags` was one comma-separated string |
//! | `PhotoUploadRequested` | 2.0 | `tags` is a list of strings |
//! | every other event | 1.0 | first shape |

use serde_json::Value;

use crate::event::PhotoEvent;

/// Why a stored event could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{event_type} version {event_version} is newer than this build knows ({known})")]
    FromTheFuture {
        event_type: String,
        event_version: String,
        known: &'static str,
    },
    #[error("{event_type} version {event_version} has an unexpected shape: {source}")]
    Shape {
        event_type: String,
        event_version: String,
        source: serde_json::Error,
    },
}

/// The version that events of this type are written with today.
pub fn current_version(event_type: &str) -> &'static str {
    match event_type {
        // 2.1 and 1.1 added `alt_text` (optional: older payloads read as they are).
        "PhotoUploadRequested" => "2.1",
        "PhotoDetailsUpdated" => "1.1",
        // 1.1 added the variants' `formats` and the `placeholder`, 1.2 `formats_tried` (all
        // optional).
        "PhotoProcessed" => "1.2",
        _ => "1.0",
    }
}

/// Whether a stored event of this type and version must be upcast before it is read.
pub fn needs_upcast(event_type: &str, event_version: &str) -> bool {
    major(event_version) < major(current_version(event_type))
}

/// Brings a payload of any known version to the current shape. A payload already current,
/// or of a shape this function does not recognise, is returned as it is (reading it then
/// reports the mismatch).
pub fn upcast(event_type: &str, event_version: &str, mut payload: Value) -> Value {
    if event_type == "PhotoUploadRequested"
        && major(event_version) < 2
        && let Some(Value::String(tags)) = payload.get("tags")
    {
        let tags: Vec<Value> = tags
            .split(',')
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
            .map(|tag| Value::String(tag.to_owned()))
            .collect();
        payload["tags"] = Value::Array(tags);
    }
    payload
}

/// Reads a stored event of any known version.
pub fn decode(
    event_type: &str,
    event_version: &str,
    payload: Value,
) -> Result<PhotoEvent, DecodeError> {
    let known = current_version(event_type);
    if major(event_version) > major(known) {
        return Err(DecodeError::FromTheFuture {
            event_type: event_type.to_owned(),
            event_version: event_version.to_owned(),
            known,
        });
    }
    serde_json::from_value(upcast(event_type, event_version, payload)).map_err(|source| {
        DecodeError::Shape {
            event_type: event_type.to_owned(),
            event_version: event_version.to_owned(),
            source,
        }
    })
}

fn major(version: &str) -> u32 {
    version
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::PhotoEvent;
    use serde_json::json;

    fn v1_upload_requested() -> Value {
        json!({
            "type": "PhotoUploadRequested",
            "occurred_at": "2026-01-02T03:04:05Z",
            "photo_id": "0190f5a4-7b1e-7cc0-8000-000000000001",
            "seller_id": "seller-1",
            "product_id": "sku-1",
            "filename": "shoe.jpg",
            "content_type": "image/jpeg",
            "size_bytes": 1234,
            "tags": " red, summer ,,sale",
            "object_key": "originals/0190f5a4-7b1e-7cc0-8000-000000000001"
        })
    }

    #[test]
    fn a_version_1_upload_request_still_loads_with_its_tags_split() {
        assert!(needs_upcast("PhotoUploadRequested", "1.0"));
        let event = decode("PhotoUploadRequested", "1.0", v1_upload_requested()).unwrap();
        let PhotoEvent::PhotoUploadRequested(requested) = event else {
            panic!("decoded into another event: {event:?}");
        };
        assert_eq!(requested.tags, ["red", "summer", "sale"]);
        assert_eq!(requested.callback_url, None);
    }

    #[test]
    fn a_version_1_shape_stored_as_version_2_is_refused() {
        let error = decode("PhotoUploadRequested", "2.0", v1_upload_requested()).unwrap_err();
        assert!(matches!(error, DecodeError::Shape { .. }), "{error}");
    }

    #[test]
    fn an_event_from_a_newer_build_is_refused_not_misread() {
        let error = decode("PhotoUploaded", "2.0", json!({})).unwrap_err();
        assert!(
            matches!(error, DecodeError::FromTheFuture { .. }),
            "{error}"
        );
    }

    #[test]
    fn current_events_need_no_upcast() {
        assert!(!needs_upcast("PhotoUploadRequested", "2.0"));
        assert!(!needs_upcast("PhotoUploaded", "1.0"));
    }
}
