//! W3C trace context (`traceparent`): the one trace a photo's work belongs to, from the request
//! that asked for it to the webhook that reports it.
//!
//! A request's `traceparent` is honoured; the trace is stored with the events the request
//! appends, travels in the [`EventEnvelope`](crate::EventEnvelope) through EventBridge and SQS
//! (whose own trace header is X-Ray's and is not kept everywhere), is the parent of each
//! consumer's work on the event, and goes out as `traceparent` on the webhook POST. Only the
//! version `00` format is written; a header of a later version is read by its first four
//! fields, as the recommendation asks.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One `traceparent`: a trace, the span within it that is the parent of what follows, and
/// whether the trace is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TraceParent {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

/// Why a `traceparent` value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a W3C traceparent: {0}")]
pub struct InvalidTraceParent(String);

impl TraceParent {
    /// The start of a new trace (sampled).
    pub fn new_root() -> Self {
        let random = uuid::Uuid::new_v4().into_bytes();
        Self {
            trace_id: random,
            span_id: Self::fresh_span_id(),
            flags: 1,
        }
    }

    /// A new span of the same trace, whose parent is this one.
    pub fn child(&self) -> Self {
        Self {
            span_id: Self::fresh_span_id(),
            ..*self
        }
    }

    /// This trace with `span_id` as its current span (a span an OpenTelemetry tracer made).
    pub fn with_span(&self, span_id: [u8; 8]) -> Self {
        Self { span_id, ..*self }
    }

    pub fn trace_id_bytes(&self) -> [u8; 16] {
        self.trace_id
    }

    pub fn span_id_bytes(&self) -> [u8; 8] {
        self.span_id
    }

    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace id as 32 lower-case hex digits, as logs and trace viewers show it.
    pub fn trace_id(&self) -> String {
        hex(&self.trace_id)
    }

    fn fresh_span_id() -> [u8; 8] {
        let random = uuid::Uuid::new_v4().into_bytes();
        let mut span = [0; 8];
        span.copy_from_slice(&random[..8]);
        if span == [0; 8] {
            span[7] = 1;
        }
        span
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.span_id),
            self.flags
        )
    }
}

impl FromStr for TraceParent {
    type Err = InvalidTraceParent;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidTraceParent(value.chars().take(64).collect());
        let value = value.trim();
        let mut fields = value.split('-');
        let (Some(version), Some(trace), Some(span), Some(flags)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(invalid());
        };
        let version = unhex::<1>(version).ok_or_else(invalid)?[0];
        // Version 00 has exactly four fields; a later version may add some after them.
        if version == 0xff || (version == 0 && fields.next().is_some()) {
            return Err(invalid());
        }
        let trace_id = unhex::<16>(trace).ok_or_else(invalid)?;
        let span_id = unhex::<8>(span).ok_or_else(invalid)?;
        let flags = unhex::<1>(flags).ok_or_else(invalid)?[0];
        if trace_id == [0; 16] || span_id == [0; 8] {
            return Err(invalid());
        }
        Ok(Self {
            trace_id,
            span_id,
            flags: flags & 1,
        })
    }
}

impl TryFrom<String> for TraceParent {
    type Error = InvalidTraceParent;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<TraceParent> for String {
    fn from(trace: TraceParent) -> Self {
        trace.to_string()
    }
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// Exactly `N` bytes of lower-case hex.
fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let value = |digit: u8| match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    };
    let mut bytes = [0; N];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (value(pair[0])? << 4) | value(pair[1])?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specification_example_reads_and_writes_back() {
        let trace: TraceParent = EXAMPLE.parse().unwrap();
        assert_eq!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(trace.sampled());
        assert_eq!(trace.to_string(), EXAMPLE);
    }

    #[test]
    fn a_child_keeps_the_trace_and_gets_a_span_of_its_own() {
        let root = TraceParent::new_root();
        let child = root.child();
        assert_eq!(child.trace_id(), root.trace_id());
        assert_ne!(child.span_id_bytes(), root.span_id_bytes());
        assert_eq!(child.to_string().parse::<TraceParent>().unwrap(), child);
    }

    #[test]
    fn malformed_values_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert!(bad.parse::<TraceParent>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_later_version_is_read_by_its_first_fields() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        let trace: TraceParent = later.parse().unwrap();
        assert_eq!(trace.to_string(), EXAMPLE);
    }
}
