//! The event store: where a photo's changes are decided and kept, and nothing else appends.
//!
//! A caller (the command API, the image processor, the notifier) builds a command and executes
//! it on the [`aggregate`] through [`store`]. The aggregate decides; the store appends its
//! events in one statement with the outbox columns that the relay (a crate of its own) reads to
//! publish them. Whatever a command needs to know from outside (what S3 holds, the seller's
//! product) is asked before and passed in: the aggregate does no I/O.
//!
//! - [`aggregate`]: the `Photo` aggregate, its commands and refusals (cqrs-es), with their
//!   given/when/then tests.
//! - [`store`]: postgres-es, the migrations, the command executor with conflict retry, the
//!   product gallery's order, snapshots, and the folded reading of many photos that the
//!   relay, the resync and the rebuild share.
//! - [`uploads`]: recording an upload, whether the client or S3 reports it.
//! - [`originals`]: the originals bucket as the commands need it: presigned PUTs, HEADs,
//!   streamed uploads.
//! - [`webhook_secrets`]: each seller's webhook signing secrets, sealed at rest;
//!   [`webhook_replays`]: the replays of a seller's webhooks and how far each got.
//! - [`personal`]: what a seller wrote about a photo, sealed under the photo's own data key,
//!   so that deleting the key forgets it everywhere (crypto-shredding).
//! - [`database`]: where the event store is: a URL, a Secrets Manager secret it follows
//!   through rotations, or libpq's variables.

pub mod aggregate;
pub mod database;
mod key_material;
pub mod originals;
pub mod personal;
pub mod store;
pub mod uploads;
pub mod webhook_replays;
pub mod webhook_secrets;
