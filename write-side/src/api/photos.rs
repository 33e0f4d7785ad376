//! The photo commands of the contract: create (presigned PUT), upload-complete, update, delete,
//! reprocess, and the history read from the event store.

use actix_web::http::StatusCode;
use actix_web::http::header::ETag;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use catalog_events::{PhotoState, UploadRequested};
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use catalog_http::Problem;
use catalog_http::auth::Seller;
use catalog_http::problem::Code;

use super::bodies::{CreatedPhoto, History, HistoryEvent, PhotoSummary, PhotoVersion, Upload};
use super::idempotency::{self, IdempotencyKey};
use super::validate::{self, DetailsPatch, NewPhoto, ValidPhoto};
use super::{Answering, AppState, bucket_problem, cause, command_problem, photo_id, preconditions};
use catalog_event_store::aggregate::PhotoCommand;
use catalog_event_store::uploads::{self, NotRecorded};

/// Where a photo's original is stored.
pub fn original_key(photo_id: Uuid) -> String {
    format!("originals/{photo_id}")
}

/// The request event for a validated new photo (the aggregate stamps its time).
pub fn upload_requested(
    photo_id: Uuid,
    seller: &Seller,
    ValidPhoto(photo): ValidPhoto,
) -> UploadRequested {
    UploadRequested {
        occurred_at: Utc::now(),
        photo_id,
        seller_id: seller.0.clone(),
        product_id: photo.product_id,
        filename: photo.filename,
        content_type: photo.content_type,
        size_bytes: photo.size_bytes,
        checksum_sha256: photo.checksum_sha256,
        caption: photo.caption,
        alt_text: photo.alt_text,
        tags: photo.tags.unwrap_or_default(),
        callback_url: photo.callback_url,
        object_key: original_key(photo_id),
    }
}

/// Declare a photo; the answer holds a presigned URL to PUT the original to.
#[utoipa::path(
    operation_id = "createPhoto",
    tag = "photos",
    security(("bearer" = [])),
    params(IdempotencyKey),
    request_body = NewPhoto,
    responses(
        (status = CREATED, description = "The photo is declared, `pending_upload`: PUT its file to the upload URL with the headers given", body = CreatedPhoto),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`size_bytes` over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The product is another seller's, or a request with this Idempotency-Key is in progress", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
        (status = 415, description = "`content_type` not supported", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or the Idempotency-Key reused with another body", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/photos")]
pub async fn create(
    state: web::Data<AppState>,
    request: HttpRequest,
    seller: Seller,
    body: web::Json<NewPhoto>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let identity = body.clone();
    idempotency::once(state.store.pool(), &request, &seller.0, &identity, async {
        let photo = validate::new_photo(body, state.max_upload_bytes)?;
        validate::callback_allowed(&state.callbacks, state.store.pool(), &seller.0, &photo).await?;
        let photo_id = Uuid::now_v7();
        let upload = state
            .originals
            .presign_put(
                &original_key(photo_id),
                &photo.0.content_type,
                photo.0.size_bytes,
                photo.0.checksum_sha256.as_deref(),
                state.presign_ttl,
            )
            .await
            .map_err(|error| bucket_problem(&*error))?;
        let command = PhotoCommand::RequestUpload(upload_requested(photo_id, &seller, photo));
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

/// Tell the service the original is uploaded; it checks the object and records the upload.
#[utoipa::path(
    operation_id = "completePhotoUpload",
    tag = "photos",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The photo's id"), IdempotencyKey),
    responses(
        (status = ACCEPTED, description = "The upload is recorded (or was already): the photo is `uploaded` or later", body = PhotoSummary),
        (status = 404, description = "No such photo, or another seller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing uploaded yet, or not the declared file", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used with another request", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/photos/{id}/upload-complete")]
pub async fn upload_complete(
    state: web::Data<AppState>,
    request: HttpRequest,
    seller: Seller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let photo_id = photo_id(&path)?;
    idempotency::once(state.store.pool(), &request, &seller.0, &(), async {
        let photo = owned(&state, photo_id, &seller).await?;
        let answering = Answering::new(StatusCode::ACCEPTED, |after: &PhotoState| {
            PhotoSummary::from(after)
        });
        let after = uploads::record(
            &state.store,
            &state.originals,
            &photo,
            &cause(&request),
            answering.receipt().as_ref(),
        )
        .await
        .map_err(|refusal| match refusal {
            NotRecorded::Missing | NotRecorded::ChecksumDiffers => {
                Problem::new(Code::Conflict, refusal.to_string())
            }
            NotRecorded::Command(error) => command_problem(error),
            NotRecorded::Bucket(error) => bucket_problem(&*error),
        })?;
        answering.respond(&after)
    })
    .await
}

/// Change a photo's caption, alt text and tags; with `If-Match`, only if the photo is still at
/// the version the client read.
#[utoipa::path(
    operation_id = "updatePhoto",
    tag = "photos",
    security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "The photo's id"),
        ("If-Match" = Option<String>, Header, description = "The photo's `ETag` as the client read it (`\"v7\"`): the change is made only if the photo is still at that version", example = "\"v7\""),
    ),
    request_body = DetailsPatch,
    responses(
        (status = OK, description = "Changed (or already so); the photo's version after it", body = PhotoVersion, headers(("ETag" = String, description = "The photo's tag after the change"))),
        (status = 400, description = "Malformed JSON or `If-Match`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such photo, or another seller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The photo is deleted, or busy", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The photo changed after the version `If-Match` names; nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/v1/photos/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    request: HttpRequest,
    seller: Seller,
    path: web::Path<String>,
    body: web::Json<DetailsPatch>,
) -> Result<HttpResponse, Problem> {
    let photo_id = photo_id(&path)?;
    let versions = preconditions::if_match(&request)?;
    let patch = validate::details(body.into_inner())?;
    let command = PhotoCommand::UpdateDetails {
        seller_id: seller.0,
        caption: patch.caption,
        alt_text: patch.alt_text,
        tags: patch.tags,
    };
    let after = state
        .store
        .execute_if(
            photo_id,
            command,
            &cause(&request),
            None,
            versions.as_deref(),
        )
        .await
        .map_err(command_problem)?;
    Ok(HttpResponse::Ok()
        .insert_header(ETag(preconditions::version_tag(after.version)))
        .json(PhotoVersion::from(&after)))
}

/// Delete a photo (a second delete changes nothing).
#[utoipa::path(
    operation_id = "deletePhoto",
    tag = "photos",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The photo's id")),
    responses(
        (status = ACCEPTED, description = "The photo is deleted (or already was); its files go shortly after", body = PhotoSummary),
        (status = 404, description = "No such photo, or another seller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Busy: try again", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/v1/photos/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    request: HttpRequest,
    seller: Seller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let photo_id = photo_id(&path)?;
    let command = PhotoCommand::Delete {
        seller_id: seller.0,
    };
    let after = state
        .store
        .execute(photo_id, command, &cause(&request))
        .await
        .map_err(command_problem)?;
    Ok(HttpResponse::Accepted().json(PhotoSummary::from(&after)))
}

/// Make a ready or failed photo's variants again.
#[utoipa::path(
    operation_id = "reprocessPhoto",
    tag = "photos",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The photo's id"), IdempotencyKey),
    responses(
        (status = ACCEPTED, description = "The photo will be processed again", body = PhotoVersion),
        (status = 404, description = "No such photo, or another seller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in the photo's status, or its product is another seller's now", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used with another request", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the seller's rate limit, or its reprocess limit (`CATALOG_REPROCESS_BURST` at once, then `CATALOG_REPROCESS_PER_HOUR`)", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
    )
)]
#[post("/v1/photos/{id}/reprocess")]
pub async fn reprocess(
    state: web::Data<AppState>,
    request: HttpRequest,
    seller: Seller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let photo_id = photo_id(&path)?;
    // A render costs what the image decodes to, not what it weighs: bounded per seller.
    state.reprocessing.check(&seller.0)?;
    idempotency::once(state.store.pool(), &request, &seller.0, &(), async {
        let command = PhotoCommand::RequestReprocess {
            seller_id: seller.0.clone(),
        };
        let answering = Answering::new(StatusCode::ACCEPTED, |after: &PhotoState| {
            PhotoVersion::from(after)
        });
        super::execute(&state, &request, photo_id, command, answering).await
    })
    .await
}

/// The query of a history page.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Events after this sequence (the `next_after` of the page before).
    after: Option<u64>,
    /// Events in the page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The photo's events from the event store, oldest first, paged.
#[utoipa::path(
    operation_id = "getPhotoHistory",
    tag = "photos",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The photo's id"), HistoryQuery),
    responses(
        (status = OK, description = "A page of the photo's events, oldest first", body = History),
        (status = 400, description = "A malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such photo, or another seller's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`limit` out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/photos/{id}/history")]
pub async fn history(
    state: web::Data<AppState>,
    seller: Seller,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, Problem> {
    let photo_id = photo_id(&path)?;
    let limit = validate::page_limit(query.limit)?;
    let page = state
        .store
        .history(photo_id, query.after.unwrap_or(0), limit)
        .await
        .map_err(command_problem)?
        .filter(|page| page.owner == seller.0)
        .ok_or_else(Problem::not_found)?;
    let next_after = page
        .more
        .then(|| page.events.last().map(|last| last.sequence))
        .flatten();
    Ok(HttpResponse::Ok().json(History {
        events: page.events.into_iter().map(HistoryEvent::from).collect(),
        next_after,
    }))
}

/// The photo, if it exists and belongs to `seller`; `404` otherwise.
pub(super) async fn owned(
    state: &AppState,
    photo_id: Uuid,
    seller: &Seller,
) -> Result<PhotoState, Problem> {
    state
        .store
        .load(photo_id)
        .await
        .map_err(command_problem)?
        .filter(|photo| photo.seller_id == seller.0)
        .ok_or_else(Problem::not_found)
}
