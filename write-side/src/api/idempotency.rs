//! `Idempotency-Key` on POST: a retry with the same key and request gets the first answer and
//! appends nothing; the same key with another request is `422`.
//!
//! A key is claimed with an insert before the work runs, so two concurrent requests with one
//! key cannot both run it: the second is told to retry (`409` with `Retry-After`). A command
//! that appends events stores its answer in the very statement that appends them
//! ([`catalog_event_store::store::Receipt`], through [`current_key`]), and only while the key is unanswered:
//! a crash can leave the events and the answer both stored or neither, never one without the
//! other. Any other answer (a repeat that appended nothing, a client error) is stored when the
//! work ends; a server error releases the claim so the retry runs the work again. A claim left
//! by a crashed process is taken over after [`IN_FLIGHT_TIMEOUT_SECS`]; should the first run
//! still be alive, whichever commits first answers for both, and the other appends nothing.
//!
//! A key is remembered for [`RETENTION_HOURS`] (as payment APIs do): time enough for any
//! client's retries. After that the same key starts a new request, and [`purge`] deletes it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use catalog_http::problem::{Code, PROBLEM_JSON, Problem};

use super::database_problem;

const HEADER: &str = "idempotency-key";
const MAX_KEY_LENGTH: usize = 255;
/// After this long, an unanswered claim is presumed dead and may be taken over (safely: only
/// one run of a key ever appends).
const IN_FLIGHT_TIMEOUT_SECS: f64 = 15.0;
/// How long a key and its answer are kept.
pub const RETENTION_HOURS: i32 = 24;
/// Rows deleted per statement of [`purge`], so that it never holds many locks at once.
const PURGE_BATCH: i64 = 5_000;

/// The `Idempotency-Key` header, as the OpenAPI documents describe it.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// A retry with the same key and body gets the first answer and appends nothing; the same
    /// key with another body is `422`. Kept for 24 hours, per seller.
    #[param(rename = "Idempotency-Key", min_length = 1, max_length = 255)]
    #[allow(dead_code)] // read from the request's headers, declared here for the document
    idempotency_key: Option<String>,
}

/// A successful answer of a handler, before it becomes an HTTP response.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn new(status: StatusCode, body: Value) -> Self {
        Self { status, body }
    }

    /// `body` serialized, with `status`.
    pub fn of<T: serde::Serialize>(status: StatusCode, body: &T) -> Result<Self, Problem> {
        serde_json::to_value(body)
            .map(|body| Self::new(status, body))
            .map_err(|error| Problem::internal(&error))
    }

    pub fn response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status.is_client_error() || self.status.is_server_error() {
            response.content_type(PROBLEM_JSON);
        }
        response.json(&self.body)
    }
}

tokio::task_local! {
    /// The (seller, key) of the request whose work is running.
    static KEY: (String, String);
}

/// The (seller, key) of the request being handled, if it carries one: its answer is to be
/// stored with the events the work appends.
pub fn current_key() -> Option<(String, String)> {
    KEY.try_with(Clone::clone).ok()
}

/// Runs `work` once per (seller, key), or every time when the request has no key.
/// `identity` is what identifies the request besides its method and path (its parsed body);
/// it is serialized only when the request has a key.
pub async fn once<F, T>(
    pool: &PgPool,
    request: &HttpRequest,
    seller: &str,
    identity: &T,
    work: F,
) -> Result<HttpResponse, Problem>
where
    F: Future<Output = Result<Answer, Problem>>,
    T: serde::Serialize + ?Sized,
{
    Ok(answer(pool, request, seller, identity, work)
        .await?
        .response())
}

/// [`once`], answering with the answer itself (first or replayed), for a handler that
/// turns it into its response (say, to open what it sealed before it was stored).
pub async fn answer<F, T>(
    pool: &PgPool,
    request: &HttpRequest,
    seller: &str,
    identity: &T,
    work: F,
) -> Result<Answer, Problem>
where
    F: Future<Output = Result<Answer, Problem>>,
    T: serde::Serialize + ?Sized,
{
    let Some(key) = key(request)? else {
        return work.await;
    };
    let body = serde_json::to_vec(identity).map_err(|error| Problem::internal(&error))?;
    let hash = request_hash(request, &body);
    match claim(pool, seller, &key, &hash).await? {
        Claim::Replay(answer) => return Ok(answer),
        Claim::Mismatch => {
            return Err(Problem::new(
                Code::IdempotencyKeyReused,
                "this Idempotency-Key was used with another request",
            ));
        }
        Claim::InFlight => {
            return Err(Problem::busy(
                "a request with this Idempotency-Key is in progress",
                1,
            ));
        }
        Claim::Won => {}
    }
    let outcome = KEY.scope((seller.to_owned(), key.clone()), work).await;
    if outcome.is_err()
        && let Some(answered) = stored_answer(pool, seller, &key).await?
    {
        // Answered after all: by this run's append before a later step failed, or by a run
        // that took over the claim.
        return Ok(answered);
    }
    let stored = match &outcome {
        Ok(answer) => Some(answer.clone()),
        // A refusal is the answer to keep; a conflict (with Retry-After) or a fault is not.
        Err(problem)
            if problem.status_code().is_client_error() && problem.retry_after_secs.is_none() =>
        {
            Some(Answer::new(
                problem.status_code(),
                serde_json::to_value(problem).unwrap_or_default(),
            ))
        }
        Err(_) => None,
    };
    record(pool, seller, &key, stored.as_ref()).await?;
    outcome
}

#[derive(sqlx::FromRow)]
struct StoredKey {
    request_hash: Vec<u8>,
    status: Option<i16>,
    body: Option<Value>,
    stale: bool,
}

enum Claim {
    Won,
    Replay(Answer),
    Mismatch,
    InFlight,
}

fn key(request: &HttpRequest) -> Result<Option<String>, Problem> {
    let Some(value) = request.headers().get(HEADER) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= MAX_KEY_LENGTH => Ok(Some(key.to_owned())),
        _ => Err(Problem::new(
            Code::Malformed,
            format!("Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"),
        )),
    }
}

fn request_hash(request: &HttpRequest, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(request.method().as_str());
    hasher.update(b" ");
    hasher.update(request.path());
    hasher.update(b"\n");
    hasher.update(body);
    hasher.finalize().to_vec()
}

async fn claim(pool: &PgPool, seller: &str, key: &str, hash: &[u8]) -> Result<Claim, Problem> {
    // A new key, or one past its retention (not purged yet): this request owns it.
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (seller_id, key, request_hash) VALUES ($1, $2, $3) \
         ON CONFLICT (seller_id, key) DO UPDATE \
           SET request_hash = EXCLUDED.request_hash, status = NULL, body = NULL, created_at = now() \
           WHERE idempotency_keys.created_at < now() - make_interval(hours => $4)",
    )
    .bind(seller)
    .bind(key)
    .bind(hash)
    .bind(RETENTION_HOURS)
    .execute(pool)
    .await
    .map_err(|error| database_problem(&error))?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::Won);
    }
    let row: Option<StoredKey> = sqlx::query_as(
        "SELECT request_hash, status, body, \
                created_at < now() - make_interval(secs => $3) AS stale \
         FROM idempotency_keys WHERE seller_id = $1 AND key = $2",
    )
    .bind(seller)
    .bind(key)
    .bind(IN_FLIGHT_TIMEOUT_SECS)
    .fetch_optional(pool)
    .await
    .map_err(|error| database_problem(&error))?;
    let Some(StoredKey {
        request_hash: stored_hash,
        status,
        body,
        stale,
    }) = row
    else {
        // Released between our insert and our read: the retry may claim it.
        return Ok(Claim::InFlight);
    };
    if stored_hash != hash {
        return Ok(Claim::Mismatch);
    }
    match (status, body) {
        (Some(status), Some(body)) => Ok(Claim::Replay(Answer::new(status_code(status), body))),
        _ if stale => take_over(pool, seller, key).await,
        _ => Ok(Claim::InFlight),
    }
}

async fn take_over(pool: &PgPool, seller: &str, key: &str) -> Result<Claim, Problem> {
    let taken = sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() \
         WHERE seller_id = $1 AND key = $2 AND status IS NULL \
           AND created_at < now() - make_interval(secs => $3)",
    )
    .bind(seller)
    .bind(key)
    .bind(IN_FLIGHT_TIMEOUT_SECS)
    .execute(pool)
    .await
    .map_err(|error| database_problem(&error))?;
    Ok(if taken.rows_affected() == 1 {
        Claim::Won
    } else {
        Claim::InFlight
    })
}

/// The answer stored for the key, if any.
async fn stored_answer(pool: &PgPool, seller: &str, key: &str) -> Result<Option<Answer>, Problem> {
    let stored: Option<(i16, Value)> = sqlx::query_as(
        "SELECT status, body FROM idempotency_keys \
         WHERE seller_id = $1 AND key = $2 AND status IS NOT NULL",
    )
    .bind(seller)
    .bind(key)
    .fetch_optional(pool)
    .await
    .map_err(|error| database_problem(&error))?;
    Ok(stored.map(|(status, body)| Answer::new(status_code(status), body)))
}

fn status_code(stored: i16) -> StatusCode {
    u16::try_from(stored)
        .ok()
        .and_then(|status| StatusCode::from_u16(status).ok())
        .unwrap_or(StatusCode::OK)
}

/// Stores the answer, or releases the claim when there is none to keep; a key already
/// answered (with the events its work appended) keeps its answer.
async fn record(
    pool: &PgPool,
    seller: &str,
    key: &str,
    answer: Option<&Answer>,
) -> Result<(), Problem> {
    let query = match answer {
        Some(answer) => sqlx::query(
            "UPDATE idempotency_keys SET status = $3, body = $4 \
             WHERE seller_id = $1 AND key = $2 AND status IS NULL",
        )
        .bind(seller)
        .bind(key)
        .bind(i16::try_from(answer.status.as_u16()).unwrap_or(500))
        .bind(&answer.body),
        None => sqlx::query(
            "DELETE FROM idempotency_keys WHERE seller_id = $1 AND key = $2 AND status IS NULL",
        )
        .bind(seller)
        .bind(key),
    };
    query
        .execute(pool)
        .await
        .map_err(|error| database_problem(&error))?;
    Ok(())
}

/// Deletes the keys past their retention; returns how many.
pub async fn purge(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut purged = 0;
    loop {
        let deleted = sqlx::query(
            "DELETE FROM idempotency_keys WHERE ctid IN ( \
               SELECT ctid FROM idempotency_keys \
               WHERE created_at < now() - make_interval(hours => $1) LIMIT $2)",
        )
        .bind(RETENTION_HOURS)
        .bind(PURGE_BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        purged += deleted;
        if deleted < u64::try_from(PURGE_BATCH).unwrap_or(u64::MAX) {
            return Ok(purged);
        }
    }
}
