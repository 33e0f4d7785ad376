//! What caused a command: the request or job behind it, stored as the metadata of every event
//! the command appends, so the events say who asked and which trace they belong to.
//!
//! A photo has one trace. Work that brings its own trace (a request's `traceparent`, a
//! consumer's envelope) appends under that trace; work that brings none (a request without
//! the header, S3's report of an upload) continues the trace the photo was created under, so
//! an upload can be followed from its creation to its webhook. The metadata holds a
//! `traceparent` whose span is the command's own.

use catalog_events::TraceParent;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{CommandError, PhotoStore};

/// The request or job behind a command.
#[derive(Debug, Clone)]
pub struct Cause {
    /// The request's id (or the job's name), as its logs show it.
    pub correlation_id: String,
    /// The trace the work belongs to; `None` continues the photo's own.
    pub trace: Option<TraceParent>,
    /// Facts about the work kept beside its events (a render's stage times, which
    /// `catalog trace` shows).
    pub details: Option<Value>,
}

impl Cause {
    pub fn new(correlation_id: impl Into<String>, trace: Option<TraceParent>) -> Self {
        Self {
            correlation_id: correlation_id.into(),
            trace,
            details: None,
        }
    }

    /// The same cause, with `details` kept beside the events.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The metadata stored with each event of the command, whose span is `trace`.
    pub(crate) fn metadata(&self, trace: &TraceParent) -> Value {
        let mut metadata = Map::new();
        metadata.insert("correlation_id".into(), self.correlation_id.clone().into());
        metadata.insert("traceparent".into(), trace.to_string().into());
        if let Some(details) = &self.details {
            metadata.insert("details".into(), details.clone());
        }
        Value::Object(metadata)
    }
}

impl PhotoStore {
    /// The trace a command on `photo_id` runs in: its cause's, or else the photo's own (a new
    /// trace for a photo the command creates, or one stored before traces were kept).
    pub(crate) async fn trace_for(
        &self,
        photo_id: Uuid,
        cause: &Cause,
        creates_photo: bool,
    ) -> Result<TraceParent, CommandError> {
        Ok(match cause.trace {
            Some(trace) => trace,
            None if creates_photo => TraceParent::new_root(),
            None => self
                .trace_of(photo_id)
                .await?
                .unwrap_or_else(TraceParent::new_root),
        })
    }

    /// The trace `photo_id` was created under, if it exists and has one.
    pub async fn trace_of(&self, photo_id: Uuid) -> Result<Option<TraceParent>, CommandError> {
        let stored: Option<Option<String>> = sqlx::query_scalar(
            "SELECT metadata->>'traceparent' FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence LIMIT 1",
        )
        .bind(catalog_events::AGGREGATE_TYPE)
        .bind(photo_id.to_string())
        .fetch_optional(self.pool())
        .await?;
        Ok(stored.flatten().and_then(|trace| trace.parse().ok()))
    }
}

/// A job known by its name alone, in the photo's own trace (tests, tools).
impl From<&str> for Cause {
    fn from(correlation_id: &str) -> Self {
        Self::new(correlation_id, None)
    }
}

impl From<&Cause> for Cause {
    fn from(cause: &Cause) -> Self {
        cause.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_names_the_request_its_trace_and_its_details() {
        let trace = TraceParent::new_root();
        let cause = Cause::new("req-1", None).with_details(serde_json::json!({"ms": 3}));
        assert_eq!(
            cause.metadata(&trace),
            serde_json::json!({
                "correlation_id": "req-1",
                "traceparent": trace.to_string(),
                "details": {"ms": 3},
            })
        );
    }
}
