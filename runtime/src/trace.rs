//! A unit of work joins a photo's trace: its span records the `trace_id` (so every log line
//! within it carries it, exported or not) and, when traces are exported (OpenTelemetry, set up
//! by the `catalog` binary), takes the trace's span as its parent.
//!
//! Spans that join a trace declare a `trace_id` field (`tracing::field::Empty`) for [`follow`]
//! to fill.

use catalog_events::TraceParent;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Makes `span` part of `trace`: records its `trace_id` and, when traces are exported, sets
/// its parent to the trace's span (before the span is first entered).
pub fn follow(span: &tracing::Span, trace: &TraceParent) {
    span.record("trace_id", tracing::field::display(trace.trace_id()));
    let flags = if trace.sampled() {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let parent = SpanContext::new(
        TraceId::from_bytes(trace.trace_id_bytes()),
        SpanId::from_bytes(trace.span_id_bytes()),
        flags,
        true,
        TraceState::default(),
    );
    // Without an exporter there is no OpenTelemetry layer to take the parent: nothing to do.
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
}

/// The `traceparent` to hand on from work done in `span` (which [`follow`]ed `trace`): the
/// exported span's own id when traces are exported, so what follows hangs under it, or a new
/// span id of the same trace.
pub fn handed_on(span: &tracing::Span, trace: &TraceParent) -> TraceParent {
    let context = span.context();
    let current = context.span().span_context().clone();
    if current.is_valid() && current.trace_id().to_bytes() == trace.trace_id_bytes() {
        trace.with_span(current.span_id().to_bytes())
    } else {
        trace.child()
    }
}
