//! The command API of `API.md` (write side), on actix-web.
//!
//! - [`photos`]: the JSON commands and the history; [`upload`]: the multipart upload.
//! - [`past`]: the change feed, a photo as it was, and restoring its details.
//! - [`replace`]: a new original for a photo.
//! - [`products`]: the order of a product's gallery.
//! - [`validate`]: field checks; [`preconditions`]: `If-Match`.
//! - [`idempotency`]: `Idempotency-Key` on POST.
//! - [`webhook_secret`]: each seller's webhook signing secret; [`webhook_replay`]: sending a
//!   span of its webhooks again; [`webhooks`]: the webhooks as the OpenAPI document describes
//!   them.
//! - [`bodies`]: the typed answers.
//!
//! Errors, tokens, health and request timing are `catalog-http`'s, shared with the read API.

pub mod bodies;
pub mod idempotency;
pub mod past;
pub mod photos;
pub mod preconditions;
pub mod products;
pub mod replace;
pub mod upload;
pub mod validate;
pub mod webhook_replay;
pub mod webhook_secret;
pub mod webhooks;

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use catalog_events::PhotoState;
use catalog_http::openapi::Description;
use catalog_http::ops::Health;
use catalog_http::ops::correlation_id;
use catalog_http::problem::{Code, FieldError};
use catalog_http::request_trace::request_trace;
use catalog_http::service::Api;
use catalog_http::{Problem, ops, problem};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use catalog_callback_guard::CallbackPolicy;
use catalog_event_store::aggregate::{PhotoCommand, PhotoError};
use catalog_event_store::originals::Originals;
use catalog_event_store::store::{Answerer, Cause, CommandError, PhotoStore, Receipt};
use catalog_event_store::webhook_secrets::Sealer;
use idempotency::Answer;

/// What every handler shares.
pub struct AppState {
    pub store: PhotoStore,
    pub originals: Originals,
    pub max_upload_bytes: u64,
    /// The multipart uploads let in now, per seller and in memory.
    pub uploads: std::sync::Arc<upload::Admission>,
    /// How fast a multipart upload must arrive.
    pub upload_pace: upload::Pace,
    pub presign_ttl: Duration,
    /// Each seller's reprocess requests.
    pub reprocessing: std::sync::Arc<catalog_http::rate_limit::Limiter>,
    pub callbacks: CallbackPolicy,
    /// Seals and opens the sellers' webhook secrets.
    pub sealer: Sealer,
    /// Where the photos shown (as they were, in the change feed) have their variants served.
    pub variants_base_url: String,
}

/// Largest JSON body accepted (the fields of a photo, with room to spare).
const MAX_JSON_BYTES: usize = 64 * 1024;

/// What the write API says of itself in its OpenAPI document.
pub const DESCRIPTION: Description = Description {
    title: "Photo catalog: write API",
    summary: "Sellers declare, upload, change, reprocess and delete their product photos.",
    local_url: "http://127.0.0.1:8080",
    webhooks: Some(webhooks::document),
};

/// The write API: each seller's requests are rate-limited.
pub const API: Api = Api {
    description: &DESCRIPTION,
    routes,
    limit_sellers: true,
    limit_callers: false,
};

/// Registers every route of the write side.
pub fn routes(config: &mut ServiceConfig) {
    config
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_JSON_BYTES)
                .error_handler(|error, _| problem::json_error(error).into()),
        )
        .app_data(problem::query_config())
        .configure(ops::routes)
        .service(readyz)
        .service(photos::create)
        .service(upload::upload)
        .service(photos::update)
        .service(photos::delete)
        .service(photos::upload_complete)
        .service(photos::reprocess)
        .service(photos::history)
        .service(past::photo_as_of)
        .service(past::restore)
        .service(replace::replace)
        .service(past::changes)
        .service(products::reorder)
        .service(products::order)
        .service(webhook_secret::rotate)
        .service(webhook_replay::start_replay)
        .service(webhook_replay::progress)
        .default_service(web::to(|| async {
            HttpResponse::from_error(Problem::route_not_found())
        }));
}

/// Postgres and the originals bucket answer: the write API can take commands.
#[utoipa::path(
    operation_id = "getReadiness",
    tag = "operations",
    responses(
        (status = OK, description = "The event store and the originals bucket answer", body = Health),
        (status = 503, description = "A dependency does not answer", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    sqlx::query("SELECT 1")
        .execute(state.store.pool())
        .await
        .map_err(|error| Problem::not_ready("the event store", &error))?;
    state
        .originals
        .check()
        .await
        .map_err(|error| Problem::not_ready("the originals bucket", &*error))?;
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}

/// The photo id in the path. An id that is not a UUID names no photo: `404`.
pub fn photo_id(path: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(path).map_err(|_| Problem::not_found())
}

/// The problem a refused command answers: the one mapping of the aggregate's refusals.
pub fn refusal_problem(error: PhotoError) -> Problem {
    match error {
        PhotoError::NotFound => Problem::not_found(),
        PhotoError::ProductOwned(_) => Problem::new(Code::ProductOwned, error.to_string()),
        PhotoError::NotInProduct(_) => {
            Problem::invalid(vec![FieldError::new("photo_ids", error.to_string())])
        }
        PhotoError::VersionMoved { .. } => {
            Problem::new(Code::PreconditionFailed, error.to_string())
        }
        PhotoError::AlreadyExists
        | PhotoError::NotAllowed { .. }
        | PhotoError::SizeMismatch { .. }
        | PhotoError::NoSuchChange(_)
        | PhotoError::OtherRender => Problem::new(Code::Conflict, error.to_string()),
    }
}

/// The problem a command that did not run answers: the one mapping of the event store's
/// errors.
pub fn command_problem(error: CommandError) -> Problem {
    match error {
        CommandError::Refused(refusal) => refusal_problem(refusal),
        // (Under an Idempotency-Key, the answer that was stored is given instead.)
        CommandError::Conflict | CommandError::AnsweredElsewhere => {
            Problem::busy(error.to_string(), 1)
        }
        CommandError::Store(source) => database_problem(&*source),
    }
}

/// A failure of the database: `503` with `Retry-After` while it cannot be reached (an outage
/// or a restart; the client's retry will do), `500` for anything else.
pub fn database_problem(error: &(dyn std::error::Error + 'static)) -> Problem {
    if catalog_event_store::store::is_unreachable(error) {
        tracing::warn!(error = %error, "the event store cannot be reached");
        Problem::unavailable("the event store cannot be reached right now; retry shortly")
    } else {
        Problem::internal(error)
    }
}

/// A failure of the originals bucket: `503` with `Retry-After` while it cannot be reached (the
/// client's retry will do), `500` for anything else.
pub fn bucket_problem(error: &(dyn std::error::Error + 'static)) -> Problem {
    if catalog_event_store::originals::is_unreachable(error) {
        tracing::warn!(error = %error, "the originals bucket cannot be reached");
        Problem::unavailable("the originals bucket cannot be reached right now; retry shortly")
    } else {
        Problem::internal(error)
    }
}

/// Executes `command` on the photo and answers `status` with `body` of the photo after it.
/// Under an `Idempotency-Key`, that answer is stored by the statement that appends the
/// command's events (see [`idempotency`]).
pub async fn execute<B, F>(
    state: &AppState,
    request: &HttpRequest,
    photo_id: Uuid,
    command: PhotoCommand,
    answering: Answering<F>,
) -> Result<Answer, Problem>
where
    B: serde::Serialize,
    F: Fn(&PhotoState) -> B + Sync,
{
    let after = state
        .store
        .execute_with(
            photo_id,
            command,
            &cause(request),
            answering.receipt().as_ref(),
        )
        .await
        .map_err(command_problem)?;
    answering.respond(&after)
}

/// What caused a command: the request, by its id and the trace it came with.
pub(crate) fn cause(request: &HttpRequest) -> Cause {
    Cause::new(correlation_id(request), request_trace(request))
}

/// How a command's answer is made from the photo after it, and kept under the request's
/// idempotency key, if it has one.
pub struct Answering<F> {
    key: Option<(String, String)>,
    status: StatusCode,
    body: F,
}

impl<B, F> Answering<F>
where
    B: serde::Serialize,
    F: Fn(&PhotoState) -> B + Sync,
{
    pub fn new(status: StatusCode, body: F) -> Self {
        Self {
            key: idempotency::current_key(),
            status,
            body,
        }
    }

    /// What keeps the answer with the command's events.
    pub fn receipt(&self) -> Option<Receipt<'_>> {
        self.key.as_ref().map(|(seller_id, key)| Receipt {
            seller_id,
            key,
            answer: self,
        })
    }

    /// The answer to give, for the photo after the command.
    pub fn respond(&self, after: &PhotoState) -> Result<Answer, Problem> {
        Answer::of(self.status, &(self.body)(after))
    }
}

impl<B, F> Answerer for Answering<F>
where
    B: serde::Serialize,
    F: Fn(&PhotoState) -> B + Sync,
{
    fn answer(&self, after: &PhotoState) -> (u16, serde_json::Value) {
        let body = serde_json::to_value((self.body)(after)).unwrap_or_default();
        (self.status.as_u16(), body)
    }
}
