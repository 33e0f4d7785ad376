//! The write side: where photos change, and nothing else does.
//!
//! A request reaches [`api`], which authenticates the seller (`catalog-http`), checks the input,
//! talks to S3 where the command needs a fact from it ([`originals`]), and executes a command
//! on the [`aggregate`] through the event store ([`store`]). The aggregate decides; the event
//! store appends its events in one transaction with the outbox columns that the [`relay`]
//! reads to publish them. The image processor and the notifier are crates of their own that
//! execute their commands through [`store`] too: nothing else appends events.
//!
//! - [`aggregate`]: the `Photo` aggregate, its commands and refusals (cqrs-es).
//! - [`store`]: postgres-es, migrations, the command executor with conflict retry, and the
//!   folded reading of many photos that the relay and the resync share.
//! - [`api`]: the actix-web command API of the contract, validation, idempotency keys.
//! - [`originals`]: the originals bucket: presigned PUTs, HEADs, streamed uploads.
//! - [`uploads`]: recording an upload, whether the client or S3 reports it.
//! - [`relay`]: the outbox relay that publishes stored events to EventBridge.
//! - [`webhook_secrets`]: each seller's webhook signing secrets, sealed at rest.
//! - [`database`]: where the event store is: a URL, a Secrets Manager secret it follows
//!   through rotations, or libpq's variables.
//! - [`config`]: the settings, read once from `CATALOG_*` variables.
//! - [`startup`]: builds the application from settings; `main` and the tests both call it.

pub mod aggregate;
pub mod api;
pub mod config;
pub mod database;
pub mod originals;
pub mod relay;
pub mod startup;
pub mod store;
pub mod uploads;
pub mod webhook_secrets;
