//! The command API: where sellers ask for photos and products to change.
//!
//! A request reaches [`api`], which authenticates the seller (`catalog-http`), checks the input,
//! asks S3 where the command needs a fact from it, and executes a command on the `Photo`
//! aggregate through the event store (`catalog-event-store`), which decides and appends. This
//! crate holds no domain logic and no storage of its own beyond the idempotency answers.
//!
//! - [`api`]: the actix-web command API of the contract, validation, idempotency keys.
//! - [`config`]: the settings, read once from `CATALOG_*` variables.
//! - [`startup`]: builds the application from settings; `main` and the tests both call it.

pub mod api;
pub mod config;
pub mod startup;
