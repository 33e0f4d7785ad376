//! The envelope: what the outbox relay puts on the bus for each stored event.
//!
//! Delivery is at least once and unordered, so the envelope carries everything a consumer
//! needs to act alone and idempotently: a stable `event_id` (the same on every redelivery,
//! derived from the photo and the sequence), the aggregate `sequence` to order by, and the
//! photo's full `state` after the event, so the projector writes a whole item guarded by
//! version and never has to read the write side.
//!
//! The JSON is stable: `tests/fixtures/envelope.json` pins it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::PhotoEvent;
use crate::state::PhotoState;
use crate::trace::TraceParent;

/// Namespace of the UUID v5 event ids (so ids are stable across relays and redeliveries).
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a4e_93b7_4d0e_a5c8_1e2f_3a4b_5c6d);

/// Why a message from the bus holds no envelope a consumer may act on.
#[derive(Debug, thiserror::Error)]
pub enum UnreadableMessage {
    #[error("not an envelope: {0}")]
    NotAnEnvelope(#[from] serde_json::Error),
    #[error("the envelope's state is not the photo's at sequence {sequence}")]
    Inconsistent { sequence: u64 },
}

/// One event as it travels on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventEnvelope {
    pub event_id: Uuid,
    pub aggregate_id: Uuid,
    /// The event's position in its photo's stream, from 1; the photo's version after it.
    pub sequence: u64,
    pub event_type: String,
    pub event_version: String,
    pub occurred_at: DateTime<Utc>,
    /// The id of the request (or job) that caused the event, for tracing across parts.
    pub correlation_id: Option<String>,
    /// The trace of the work that appended the event (W3C `traceparent`), the parent of each
    /// consumer's work on it. Absent on events stored before traces were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<TraceParent>,
    pub event: PhotoEvent,
    /// The photo after this event.
    pub state: PhotoState,
}

impl EventEnvelope {
    pub fn new(
        aggregate_id: Uuid,
        sequence: u64,
        event: PhotoEvent,
        correlation_id: Option<String>,
        traceparent: Option<TraceParent>,
        state: PhotoState,
    ) -> Self {
        Self {
            event_id: Self::event_id(aggregate_id, sequence),
            aggregate_id,
            sequence,
            event_type: event.event_type().to_owned(),
            event_version: event.event_version().to_owned(),
            occurred_at: event.occurred_at(),
            correlation_id,
            traceparent,
            event,
            state,
        }
    }

    /// The envelope in a message that EventBridge delivered to an SQS queue (the event's
    /// `detail`), checked for consistency: its state must be the photo's, at the event's
    /// sequence.
    pub fn from_bus_message(body: &str) -> Result<Self, UnreadableMessage> {
        #[derive(Deserialize)]
        struct BusEvent {
            detail: EventEnvelope,
        }
        let envelope = serde_json::from_str::<BusEvent>(body)?.detail;
        if envelope.state.photo_id != envelope.aggregate_id
            || envelope.state.version != envelope.sequence
        {
            return Err(UnreadableMessage::Inconsistent {
                sequence: envelope.sequence,
            });
        }
        Ok(envelope)
    }

    /// The stable id of the event at `sequence` of photo `aggregate_id`.
    pub fn event_id(aggregate_id: Uuid, sequence: u64) -> Uuid {
        let mut name = [0u8; 24];
        name[..16].copy_from_slice(aggregate_id.as_bytes());
        name[16..].copy_from_slice(&sequence.to_be_bytes());
        Uuid::new_v5(&EVENT_ID_NAMESPACE, &name)
    }
}
