//! The read side: answers catalog queries from the DynamoDB read model, never from Postgres.
//!
//! - [`api`]: the four read paths of `API.md`, a file per resource (a photo, with
//!   read-your-writes by `min_version`; a product's gallery; a product; a seller's
//!   inventory), what the listings share, and `ETag`/`Cache-Control` with `304`.
//! - [`error`]: why a read was not answered, and the one place that says which problem each
//!   failure becomes.
//! - [`cursor`]: opaque page cursors over DynamoDB's `LastEvaluatedKey`.
//! - [`config`] and [`startup`]: settings, and the one function that builds the server for
//!   `main` and the tests.

pub mod api;
pub mod config;
pub mod cursor;
pub mod error;
pub mod startup;
