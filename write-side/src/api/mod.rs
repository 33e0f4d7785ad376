//! The command API of `API.md` (write side), on actix-web.
//!
//! - [`photos`]: the JSON commands and the history; [`upload`]: the multipart upload.
//! - [`validate`]: field checks.
//! - [`idempotency`]: `Idempotency-Key` on POST.
//! - [`webhook_secret`]: each seller's webhook signing secret.
//! - [`bodies`]: the typed answers.
//!
//! Errors, tokens, health and metrics are `catalog-http`'s, shared with the read API.

pub mod bodies;
pub mod idempotency;
pub mod photos;
pub mod upload;
pub mod validate;
pub mod webhook_secret;

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use catalog_http::openapi::Description;
use catalog_http::ops::Health;
use catalog_http::problem::Code;
use catalog_http::service::Api;
use catalog_http::{Problem, ops, problem};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::aggregate::PhotoError;
use crate::originals::Originals;
use crate::store::{CommandError, PhotoStore};
use crate::webhook_secrets::Sealer;
use catalog_callback_guard::CallbackPolicy;

/// What every handler shares.
pub struct AppState {
    pub store: PhotoStore,
    pub originals: Originals,
    pub max_upload_bytes: u64,
    pub presign_ttl: Duration,
    pub callbacks: CallbackPolicy,
    /// Seals and opens the sellers' webhook secrets.
    pub sealer: Sealer,
}

/// Largest JSON body accepted (the fields of a photo, with room to spare).
const MAX_JSON_BYTES: usize = 64 * 1024;

/// What the write API says of itself in its OpenAPI document.
pub const DESCRIPTION: Description = Description {
    title: "Photo catalog: write API",
    summary: "Sellers declare, upload, change, reprocess and delete their product photos.",
    local_url: "http://127.0.0.1:8080",
};

/// The write API: each seller's requests are rate-limited.
pub const API: Api = Api {
    description: &DESCRIPTION,
    routes,
    limit_sellers: true,
    limit_addresses: false,
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
        .service(webhook_secret::rotate)
        .default_service(web::to(|| async {
            HttpResponse::from_error(Problem::route_not_found())
        }));
}

/// Postgres and the originals bucket answer: the write API can take commands.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = OK, body = Health),
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

impl From<PhotoError> for Problem {
    fn from(error: PhotoError) -> Self {
        match error {
            PhotoError::NotFound => Self::not_found(),
            PhotoError::AlreadyExists
            | PhotoError::NotAllowed { .. }
            | PhotoError::SizeMismatch { .. }
            | PhotoError::NoSuchChange(_) => Self::new(Code::Conflict, error.to_string()),
        }
    }
}

impl From<CommandError> for Problem {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Refused(refusal) => refusal.into(),
            CommandError::Conflict => Self::busy(error.to_string(), 1),
            CommandError::Store(_) => Self::internal(&error),
        }
    }
}
