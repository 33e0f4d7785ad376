//! What the two HTTP services share, so they answer alike:
//!
//! - [`problem`]: every error as RFC 9457 `application/problem+json`.
//! - [`auth`]: HS256 bearer tokens whose `sub` is the seller, and the [`auth::Seller`]
//!   extractor.
//! - [`ops`]: `/healthz`, `/metrics`, and the middleware that counts, times and tags every
//!   request with its id.
//! - [`service`]: the server around a service's state and routes, built alike for both.

pub mod auth;
pub mod ops;
pub mod problem;
pub mod service;

pub use problem::Problem;
