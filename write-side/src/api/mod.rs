//! The command API of `API.md` (write side), on actix-web.
//!
//! - [`photos`]: the JSON commands and the history; [`upload`]: the multipart upload.
//! - [`validate`]: field checks; [`problem`]: problem+json errors.
//! - [`extract`]: the authenticated seller, the path's photo id, the correlation id.
//! - [`idempotency`]: `Idempotency-Key` on POST.
//! - [`ops`]: health, readiness, metrics.

pub mod extract;
pub mod idempotency;
pub mod ops;
pub mod photos;
pub mod problem;
pub mod upload;
pub mod validate;

use std::time::Duration;

use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::Authenticator;
use crate::originals::Originals;
use crate::store::PhotoStore;

/// What every handler shares.
pub struct AppState {
    pub store: PhotoStore,
    pub originals: Originals,
    pub auth: Authenticator,
    pub max_upload_bytes: u64,
    pub presign_ttl: Duration,
    pub metrics: PrometheusHandle,
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
        .route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics))
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
            HttpResponse::from_error(problem::Problem::route_not_found())
        }));
}
