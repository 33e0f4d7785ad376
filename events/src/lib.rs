//! The photo catalog's event schema, shared by every part of the service.
//!
//! Everything that crosses a process boundary about a photo is defined here and nowhere else:
//!
//! - [`event`]: the domain events the `Photo` aggregate appends to the event store, one enum
//!   with a variant per fact (upload requested, uploaded, processing started, processed, ...).
//!   Every event carries the moment it occurred, so that folding events is a pure function.
//! - [`tag`]: what a tag is, as the write side keeps it and the read side looks it up.
//! - [`state`]: the photo's full state and the one fold ([`PhotoState::apply`]) that the
//!   aggregate, the outbox relay, the projector and the resync all use.
//! - [`envelope`]: what goes on the bus: the event with its identity, position and the
//!   photo's state after it, so a consumer never has to ask the event store what the photo
//!   was (the notifier asks only what happened since: ARCHITECTURE.md says why).
//! - [`upcast`]: event versioning. Stored events are never rewritten; older payload shapes are
//!   brought to the current one when they are read.
//! - [`view`]: the photo as the HTTP contract shows it, to buyers and in webhooks.
//! - [`media`]: the media types an original may be, told by its first bytes (the write API's
//!   check and the image pipeline's decoder agree through it).
//! - [`trace`]: the W3C trace context a photo's work carries from request to webhook.
//! - [`resources`]: the names and routes of the AWS resources, from `infra-cdk/resources.json`.
//!
//! This crate does no I/O: it is types, their JSON and pure functions over them.

pub mod envelope;
pub mod event;
pub mod media;
pub mod resources;
pub mod state;
pub mod tag;
pub mod trace;
pub mod upcast;
pub mod view;

pub use envelope::EventEnvelope;
pub use event::{
    AVIF, PhotoEvent, Placeholder, ReplacementRequested, UploadRequested, Variant, VariantFormat,
    VariantName, WEBP, Webhook, WebhookKind,
};
pub use state::{PhotoState, PhotoStatus, Replacement};
pub use trace::TraceParent;

/// The aggregate type under which photo events are stored (postgres-es `aggregate_type`).
pub const AGGREGATE_TYPE: &str = "Photo";
