//! The write side: where photos change, and nothing else does.
//!
//! A request reaches [`api`], which authenticates the seller (`catalog-http`), checks the input,
//! talks to S3 where the command needs a fact from it ([`originals`]), and executes a command
//! on the [`aggregate`] through the event store ([`store`]). The aggregate decides; the event
//! store appends its events in one transaction with the outbox columns that the relay reads.
//!
//! - [`aggregate`]: the `Photo` aggregate, its commands and refusals (cqrs-es).
//! - [`store`]: postgres-es, migrations, and the command executor with conflict retry.
//! - [`api`]: the actix-web command API of `API.md`, validation, idempotency keys.
//! - [`originals`]: the originals bucket: presigned PUTs, HEADs, streamed uploads.
//! - [`relay`]: the outbox relay that publishes stored events to EventBridge.
//! - [`images`]: validation, decoding, resizing and encoding of uploaded photos.
//! - [`webhooks`]: the notifier, and the guard on which callback URLs may be called.
//! - [`queue`]: the SQS consumer loop the image processor and the notifier share.
//! - [`database`]: where the event store is: a URL, a Secrets Manager secret it follows
//!   through rotations, or libpq's variables.
//! - [`config`]: the settings, read once from `CATALOG_*` variables.
//! - [`startup`]: builds the application from settings; `main` and the tests both call it.

pub mod aggregate;
pub mod api;
pub mod config;
pub mod database;
pub mod images;
pub mod originals;
pub mod queue;
pub mod relay;
pub mod startup;
pub mod store;
pub mod webhooks;
