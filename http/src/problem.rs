//! Errors as RFC 9457 `application/problem+json`, the one error shape of the HTTP API.
//!
//! Every refusal the API can give is a row of one table ([`Code`]: code, status, title); the
//! `type` of each is a stable code that clients may match on. Internal causes are logged with
//! their whole chain and never sent.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// A field that failed validation.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Declares [`Code`] from its table, so that the enum, [`Code::ALL`] and the rows cannot drift:
/// a code is added in one line, and listed, documented and answered from that line.
macro_rules! codes {
    ($($variant:ident => ($code:literal, $status:ident, $title:literal),)+) => {
        /// Every kind of problem the APIs answer with: one row each of the code clients match
        /// on (the end of the problem's `type`, `urn:photo-catalog:problem:<code>`), its HTTP
        /// status and its title. Codes are public API: a new refusal gets a new row, a row
        /// never changes meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($variant,)+
        }

        impl Code {
            /// Every code, in the table's order, as the OpenAPI documents list them.
            pub const ALL: &[Self] = &[$(Self::$variant,)+];

            /// The table: code, status, title.
            const fn row(self) -> (&'static str, StatusCode, &'static str) {
                match self {
                    $(Self::$variant => ($code, StatusCode::$status, $title),)+
                }
            }
        }
    };
}

codes! {
    Malformed => ("malformed", BAD_REQUEST, "Malformed request"),
    Unauthorized => ("unauthorized", UNAUTHORIZED, "Not authenticated"),
    RequestTimeout => ("request-timeout", REQUEST_TIMEOUT, "Request timeout"),
    NotFound => ("not-found", NOT_FOUND, "Not found"),
    Conflict => ("conflict", CONFLICT, "Not allowed now"),
    ProductOwned => ("product-owned", CONFLICT, "The product is another seller's"),
    Busy => ("busy", CONFLICT, "Try again"),
    PreconditionFailed => ("precondition-failed", PRECONDITION_FAILED, "Changed since it was read"),
    TooLarge => ("too-large", PAYLOAD_TOO_LARGE, "Too large"),
    UnsupportedType => ("unsupported-type", UNSUPPORTED_MEDIA_TYPE, "Unsupported type"),
    Invalid => ("invalid", UNPROCESSABLE_ENTITY, "Invalid request"),
    IdempotencyKeyReused => ("idempotency-key-reused", UNPROCESSABLE_ENTITY, "Idempotency key reused"),
    RateLimited => ("rate-limited", TOO_MANY_REQUESTS, "Too many requests"),
    Unavailable => ("unavailable", SERVICE_UNAVAILABLE, "Unavailable"),
    Internal => ("internal", INTERNAL_SERVER_ERROR, "Internal error"),
}

impl Code {
    pub const fn code(self) -> &'static str {
        self.row().0
    }

    pub const fn status(self) -> StatusCode {
        self.row().1
    }

    pub const fn title(self) -> &'static str {
        self.row().2
    }

    /// The problem's `type`.
    pub fn type_uri(self) -> String {
        format!("{TYPE_PREFIX}{}", self.code())
    }
}

fn type_uri<S: serde::Serializer>(code: &Code, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&code.type_uri())
}

/// What every problem `type` starts with.
pub const TYPE_PREFIX: &str = "urn:photo-catalog:problem:";

/// One problem answer (its schema in the OpenAPI documents is written out in full by
/// `openapi`, with every `type`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Serialized as `type`, its URI.
    #[serde(rename = "type", serialize_with = "type_uri")]
    #[schema(value_type = String)]
    pub code: Code,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip)]
    #[schema(ignore)]
    pub retry_after_secs: Option<u64>,
    /// More headers of the answer (the rate-limit headers of a `429`).
    #[serde(skip)]
    #[schema(ignore)]
    pub headers: Vec<(&'static str, String)>,
}

pub const PROBLEM_JSON: &str = "application/problem+json";

impl Problem {
    /// A problem of `code`, with `detail` for the client.
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self {
            code,
            title: code.title(),
            status: code.status().as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_secs: None,
            headers: Vec::new(),
        }
    }

    /// No such photo, or another seller's (which must look the same).
    pub fn not_found() -> Self {
        Self::new(Code::NotFound, "no such photo")
    }

    pub fn route_not_found() -> Self {
        Self::new(Code::NotFound, "no such resource")
    }

    /// `422` with every field error at once.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|error| format!("{}: {}", error.field, error.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            errors,
            ..Self::new(Code::Invalid, detail)
        }
    }

    /// Someone else is changing the same thing; `retry_after_secs` says when to try again.
    pub fn busy(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(Code::Busy, detail)
        }
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self {
            retry_after_secs: Some(1),
            ..Self::new(Code::Unavailable, detail)
        }
    }

    /// `/readyz` when `dependency` does not answer: the cause is logged with its whole chain,
    /// and the answer names the dependency only.
    pub fn not_ready(dependency: &str, error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::warn!(dependency, error = %chain(error), "not ready");
        Self::unavailable(format!("not ready: {dependency} does not answer"))
    }

    /// An internal failure: logged with its whole cause chain (inside the request's span, so
    /// with its request id), answered without it.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %chain(error), "request failed");
        Self::new(
            Code::Internal,
            "the request could not be completed; it is safe to retry",
        )
    }

    pub fn status_code(&self) -> StatusCode {
        self.code.status()
    }
}

/// An error and every cause behind it, outermost first: AWS SDK and database errors say little
/// on their own ("service error", "error communicating with database").
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(source) = cause {
        let more = source.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = source.source();
    }
    text
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        Problem::status_code(self)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(PROBLEM_JSON);
        if let Some(seconds) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(seconds)));
        }
        if self.status == StatusCode::UNAUTHORIZED.as_u16() {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        for (name, value) in &self.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                response.insert_header((*name, value));
            }
        }
        response.json(self)
    }
}

/// How both APIs answer a query string they cannot read: `400` problem+json.
pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default().error_handler(|error, _| {
        Problem::new(Code::Malformed, format!("bad query: {error}")).into()
    })
}

/// The problem for a JSON body actix could not read: syntax is `400`, a body of the wrong
/// shape (unknown field, wrong type, missing field) is `422`.
pub fn json_error(error: actix_web::error::JsonPayloadError) -> Problem {
    use actix_web::error::JsonPayloadError;
    match error {
        JsonPayloadError::Deserialize(error) if error.is_data() => {
            Problem::invalid(vec![FieldError::new("body", error.to_string())])
        }
        JsonPayloadError::Deserialize(error) => {
            Problem::new(Code::Malformed, format!("malformed JSON: {error}"))
        }
        JsonPayloadError::ContentType => {
            Problem::new(Code::UnsupportedType, "the body must be application/json")
        }
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => Problem::new(
            Code::TooLarge,
            format!("the JSON body is larger than {limit} bytes"),
        ),
        other => Problem::new(Code::Malformed, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_code_is_listed_once_and_is_an_error_status() {
        let codes: HashSet<&str> = Code::ALL.iter().map(|code| code.code()).collect();
        assert_eq!(codes.len(), Code::ALL.len());
        for code in Code::ALL {
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    #[test]
    fn an_internal_problem_says_nothing_of_its_cause() {
        let cause = std::io::Error::other("password authentication failed for user postgres");
        let problem = Problem::internal(&cause);
        let body = serde_json::to_string(&problem).unwrap();
        assert!(!body.contains("password"), "{body}");
        assert_eq!(problem.status, 500);
    }

    #[test]
    fn the_chain_names_every_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(chain(&error), "outer: inner");
    }
}
