//! What can go wrong answering a read, and the one place that says which problem each failure
//! becomes.
//!
//! The functions behind the handlers return [`ReadError`] and use `?` (the DynamoDB SDK's
//! errors and a refused cursor convert by themselves). The handlers still answer with a
//! [`Problem`], converted by `?` through `From<ReadError> for Problem`, so that what actix and
//! the request log see of a failure is the problem itself. That `From` is the mapping: a
//! refusal the client can act on keeps its detail; the read model's own failures are logged
//! with their whole cause chain by [`Problem::internal`] (or [`Problem::not_ready`]) and
//! answered without it.

use std::error::Error;

use aws_sdk_dynamodb::error::SdkError;
use catalog_http::Problem;
use catalog_http::problem::{Code, FieldError};

use crate::cursor::BadCursor;

/// The cause of an internal failure, kept whole for the log.
type Cause = Box<dyn Error + Send + Sync>;

/// Why a read was not answered.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No such photo or product, or a photo the caller may not see (which must look the
    /// same): `404`.
    #[error("no such photo")]
    NotFound,
    /// A query parameter out of range or of an unknown value: `422`.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A path or a cursor this API cannot have given: `400`, with this detail.
    #[error("{0}")]
    Malformed(String),
    /// `min_version`: the read model did not hold this version of the photo within the wait
    /// (read your writes): `503` with `Retry-After`.
    #[error("the read model does not hold version {version} of this photo yet")]
    NotYet { version: u64 },
    /// A read of the read model (DynamoDB) failed: `500`.
    #[error("the read model could not be read")]
    ReadModel(#[source] Cause),
    /// An item of the read model does not decode: `500`.
    #[error("an item of the read model does not decode")]
    Decode(#[source] Cause),
    /// `/readyz`: the read model does not answer: `503`.
    #[error("the read model does not answer")]
    NotReady(#[source] Cause),
}

impl ReadError {
    /// `field` has a value this API does not take.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    /// `/readyz`'s check of the read model failed with `error`.
    pub fn not_ready(error: impl Error + Send + Sync + 'static) -> Self {
        Self::NotReady(Box::new(error))
    }
}

impl<E, R> From<SdkError<E, R>> for ReadError
where
    SdkError<E, R>: Error + Send + Sync + 'static,
{
    fn from(error: SdkError<E, R>) -> Self {
        Self::ReadModel(Box::new(error))
    }
}

impl From<BadCursor> for ReadError {
    fn from(error: BadCursor) -> Self {
        Self::Malformed(error.to_string())
    }
}

/// Which problem each failure becomes.
impl From<ReadError> for Problem {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::NotFound => Problem::not_found(),
            ReadError::Invalid { field, message } => {
                Problem::invalid(vec![FieldError::new(field, message)])
            }
            ReadError::Malformed(detail) => Problem::new(Code::Malformed, detail),
            ReadError::NotYet { .. } => Problem::unavailable(error.to_string()),
            ReadError::ReadModel(cause) | ReadError::Decode(cause) => Problem::internal(&*cause),
            ReadError::NotReady(cause) => Problem::not_ready("the read model", &*cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::operation::get_item::GetItemError;

    use super::*;

    fn problem(error: ReadError) -> Problem {
        error.into()
    }

    #[test]
    fn each_failure_becomes_its_problem() {
        let cause = || Box::new(std::io::Error::other("connection reset by peer")) as Cause;
        let sdk = SdkError::<GetItemError>::construction_failure(std::io::Error::other("no"));
        let internal = "the request could not be completed; it is safe to retry";
        let cases = [
            (ReadError::NotFound, Code::NotFound, "no such photo", None),
            (
                ReadError::invalid("limit", "must be 1 to 100"),
                Code::Invalid,
                "limit: must be 1 to 100",
                None,
            ),
            (
                ReadError::Malformed("a product id is 1 to 128 characters".to_owned()),
                Code::Malformed,
                "a product id is 1 to 128 characters",
                None,
            ),
            (
                BadCursor.into(),
                Code::Malformed,
                "the cursor is not one this listing gave",
                None,
            ),
            (
                ReadError::NotYet { version: 7 },
                Code::Unavailable,
                "the read model does not hold version 7 of this photo yet",
                Some(1),
            ),
            (sdk.into(), Code::Internal, internal, None),
            (
                ReadError::ReadModel(cause()),
                Code::Internal,
                internal,
                None,
            ),
            (ReadError::Decode(cause()), Code::Internal, internal, None),
            (
                ReadError::not_ready(std::io::Error::other("timed out")),
                Code::Unavailable,
                "not ready: the read model does not answer",
                Some(1),
            ),
        ];
        for (error, code, detail, retry_after) in cases {
            let name = format!("{error:?}");
            let problem = problem(error);
            assert_eq!(problem.code, code, "{name}");
            assert_eq!(problem.status, code.status().as_u16(), "{name}");
            assert_eq!(problem.detail, detail, "{name}");
            assert_eq!(problem.retry_after_secs, retry_after, "{name}");
        }
    }

    #[test]
    fn an_invalid_field_is_listed_with_its_message() {
        let problem = problem(ReadError::invalid("status", "not a photo status"));
        assert_eq!(problem.status, 422);
        assert_eq!(
            problem.errors,
            vec![FieldError::new("status", "not a photo status")]
        );
    }

    #[test]
    fn an_internal_cause_is_never_answered() {
        let problem = problem(ReadError::ReadModel(Box::new(std::io::Error::other(
            "arn:aws:dynamodb:eu-west-1:123456789012:table/photos",
        ))));
        let body = serde_json::to_string(&problem).unwrap();
        assert!(!body.contains("arn:aws"), "{body}");
    }
}
