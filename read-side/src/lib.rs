//! The read side: answers catalog queries from the DynamoDB read model, never from Postgres.
//!
//! - [`api`]: the three read paths of `API.md` (a photo; a product's gallery; a seller's
//!   inventory), with `ETag`/`Cache-Control`, `304`, and read-your-writes by `min_version`.
//! - [`cursor`]: opaque page cursors over DynamoDB's `LastEvaluatedKey`.
//! - [`config`] and [`startup`]: settings, and the one function that builds the server for
//!   `main` and the tests.

pub mod api;
pub mod config;
pub mod cursor;
pub mod startup;
