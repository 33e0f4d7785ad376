//! The trace a request belongs to: its W3C `traceparent` header, honoured. The request's root
//! span records the `trace_id` (every log line of the request carries it) and, when traces are
//! exported, hangs under the caller's span; what the request appends is stored under that
//! trace ([`request_trace`]). A request without the header starts no trace of its own here:
//! the event store continues the photo's, or starts one for a new photo.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage, HttpRequest};
use catalog_events::TraceParent;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

/// The root span of every request: tracing-actix-web's, joined to the caller's trace.
pub struct TracedRootSpan;

impl RootSpanBuilder for TracedRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let span = tracing_actix_web::root_span!(request);
        let given = request
            .headers()
            .get("traceparent")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<TraceParent>().ok());
        if let Some(trace) = given {
            catalog_runtime::trace::follow(&span, &trace);
            let this_request = catalog_runtime::trace::handed_on(&span, &trace);
            request.extensions_mut().insert(this_request);
        }
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The trace of `request` (with the request as its current span), if it came with one.
pub fn request_trace(request: &HttpRequest) -> Option<TraceParent> {
    request.extensions().get::<TraceParent>().copied()
}
