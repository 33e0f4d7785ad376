//! The command API of `API.md` (write side), on actix-web.
//!
//! - [`photos`]: the JSON commands and the history; [`upload`]: the multipart upload.
//! - [`validate`]: field checks.
//! - [`idempotency`]: `Idempotency-Key` on POST.
//!
//! Errors, tokens, health and metrics are `catalog-http`'s, shared with the read API.

pub mod idempotency;
pub mod photos;
pub mod upload;
pub mod validate;

use std::time::Duration;

use actix_web::{HttpResponse, web};
use catalog_http::problem::Code;
use catalog_http::{Problem, ops, problem};
use uuid::Uuid;

use crate::aggregate::PhotoError;
use crate::originals::Originals;
use crate::store::{CommandError, PhotoStore};
use catalog_callback_guard::CallbackPolicy;

/// What every handler shares.
pub struct AppState {
    pub store: PhotoStore,
    pub originals: Originals,
    pub max_upload_bytes: u64,
    pub presign_ttl: Duration,
    pub callbacks: CallbackPolicy,
}

/// Largest JSON body accepted (the fields of a photo, with room to spare).
const MAX_JSON_BYTES: usize = 64 * 1024;

/// Registers every route of the write side.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_JSON_BYTES)
                .error_handler(|error, _| problem::json_error(error).into()),
        )
        .configure(ops::routes)
        .route("/readyz", web::get().to(readyz))
        .service(
            web::scope("/v1/photos")
                .route("", web::post().to(photos::create))
                .route("/upload", web::post().to(upload::upload))
                .route("/{id}", web::patch().to(photos::update))
                .route("/{id}", web::delete().to(photos::delete))
                .route(
                    "/{id}/upload-complete",
                    web::post().to(photos::upload_complete),
                )
                .route("/{id}/reprocess", web::post().to(photos::reprocess))
                .route("/{id}/history", web::get().to(photos::history)),
        )
        .default_service(web::to(|| async {
            HttpResponse::from_error(Problem::route_not_found())
        }));
}

/// `GET /readyz`: Postgres and the originals bucket answer.
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
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
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
