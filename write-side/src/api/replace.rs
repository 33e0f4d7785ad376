//! `POST /v1/photos/{id}/replace`: a new original for a photo. The answer holds a presigned
//! PUT for it, as a create's does; once it is uploaded (upload-complete, or S3's report) and
//! rendered, the photo shows it under the same id, in the same product and gallery place, and
//! the previous original and variants are purged. Until then the previous ones are served.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use catalog_events::{PhotoState, ReplacementRequested};
use chrono::Utc;
use uuid::Uuid;

use catalog_event_store::aggregate::PhotoCommand;
use catalog_http::Problem;
use catalog_http::auth::Seller;

use super::bodies::{CreatedPhoto, PhotoSummary, Upload};
use super::idempotency::{self, IdempotencyKey};
use super::validate::{self, NewOriginal};
use super::{Answering, AppState, bucket_problem, photo_id};

/// Where a photo's new original is stored: beside its first (`originals/<id>`), under the
/// photo's version when it was declared, so that each replacement has a key of its own (an
/// upload URL writes once).
pub fn replacement_key(photo_id: Uuid, version: u64) -> String {
    format!("{}.{version}", super::photos::original_key(photo_id))
}

/// Give a photo a new original; the answer holds a presigned URL to PUT it to.
#[utoipa::path(
    operation_id = "replacePhoto",
    tag = "photos",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The photo's id"), IdempotencyKey),
    request_body = NewOriginal,
    responses(
        (status = CREATED, description = "The new original is declared: PUT it to the upload URL, then call upload-complete", body = CreatedPhoto),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such photo, or another seller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The photo was never rendered, is deleted, or its new original is being rendered; or a request with this Idempotency-Key is in progress", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`size_bytes` over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`content_type` not supported", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (a `product_id` among them), or the Idempotency-Key reused with another body", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/photos/{id}/replace")]
pub async fn replace(
    state: web::Data<AppState>,
    request: HttpRequest,
    seller: Seller,
    path: web::Path<String>,
    body: web::Json<NewOriginal>,
) -> Result<HttpResponse, Problem> {
    let photo_id = photo_id(&path)?;
    let body = body.into_inner();
    let identity = body.clone();
    idempotency::once(state.store.pool(), &request, &seller.0, &identity, async {
        let current = super::photos::owned(&state, photo_id, &seller).await?;
        let photo = validate::new_photo(
            body.of_product(current.product_id.clone()),
            state.max_upload_bytes,
        )?;
        validate::callback_allowed(&state.callbacks, state.store.pool(), &seller.0, &photo).await?;
        let photo = photo.0;
        let object_key = replacement_key(photo_id, current.version);
        let upload = state
            .originals
            .presign_put(
                &object_key,
                &photo.content_type,
                photo.size_bytes,
                photo.checksum_sha256.as_deref(),
                state.presign_ttl,
            )
            .await
            .map_err(|error| bucket_problem(&*error))?;
        let command = PhotoCommand::RequestReplacement {
            seller_id: seller.0.clone(),
            request: ReplacementRequested {
                occurred_at: Utc::now(),
                filename: photo.filename,
                content_type: photo.content_type,
                size_bytes: photo.size_bytes,
                checksum_sha256: photo.checksum_sha256,
                object_key,
                caption: photo.caption,
                alt_text: photo.alt_text,
                tags: photo.tags,
                callback_url: photo.callback_url,
            },
        };
        let upload = Upload::from(upload);
        let created = |after: &PhotoState| CreatedPhoto {
            photo: PhotoSummary::from(after),
            upload: upload.clone(),
        };
        let answering = Answering::new(StatusCode::CREATED, created);
        super::execute(&state, &request, photo_id, command, answering).await
    })
    .await
}
