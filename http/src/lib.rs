//! What the two HTTP services share, so they answer alike:
//!
//! - [`problem`]: every error as RFC 9457 `application/problem+json`.
//! - [`auth`]: bearer tokens whose `sub` is the seller (HS256 locally, RS256/ES256 from an
//!   identity provider's JWKS), and the [`auth::Seller`] extractor.
//! - [`cors`]: which browser origins may call.
//! - [`rate_limit`]: a burst, then a steady rate, per seller or per client address.
//! - [`openapi`]: each API's OpenAPI 3.1 document, generated from its routes.
//! - [`ops`]: `/healthz`, and the middleware that times every request (its metrics are
//!   served on the process's own metrics port, never on the API's) and tags it with its id.
//! - [`request_trace`]: the W3C trace context a request comes with, honoured.
//! - [`service`]: the server around a service's state and routes, built alike for both.

pub mod auth;
pub mod cors;
mod jwks;
pub mod openapi;
pub mod ops;
pub mod problem;
pub mod rate_limit;
pub mod request_trace;
pub mod service;

pub use problem::Problem;
