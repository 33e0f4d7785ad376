//! The photo commands of `API.md`: create (presigned PUT), upload-complete, update, delete,
//! reprocess, and the history read from the event store.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use catalog_events::{PhotoState, PhotoStatus, UploadRequested};
use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use catalog_http::Problem;
use catalog_http::auth::Seller;
use catalog_http::ops::correlation_id;
use catalog_http::problem::Code;

use super::idempotency::{self, Answer};
use super::validate::{self, DetailsPatch, NewPhoto, ValidPhoto};
use super::{AppState, photo_id};
use crate::aggregate::PhotoCommand;

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
        tags: photo.tags.unwrap_or_default(),
        callback_url: photo.callback_url,
        object_key: original_key(photo_id),
    }
}

/// `{"photo_id", "status", "version"}`, the answer of most commands.
pub fn summary(photo: &PhotoState) -> serde_json::Value {
    json!({"photo_id": photo.photo_id, "status": photo.status, "version": photo.version})
}

/// `POST /v1/photos`
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
        validate::callback_allowed(&state.callbacks, &photo).await?;
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
            .map_err(|error| Problem::internal(&*error))?;
        let command = PhotoCommand::RequestUpload(upload_requested(photo_id, &seller, photo));
        let after = state
            .store
            .execute(photo_id, command, &correlation_id(&request))
            .await?;
        let mut body = summary(&after);
        body["upload"] = json!({
            "method": "PUT",
            "url": upload.url,
            "headers": upload.headers,
            "expires_at": upload.expires_at,
        });
        Ok(Answer::new(StatusCode::CREATED, body))
    })
    .await
}

/// `POST /v1/photos/{id}/upload-complete`: checks the object with a HEAD, then confirms.
pub async fn upload_complete(
    state: web::Data<AppState>,
    request: HttpRequest,
    seller: Seller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let photo_id = photo_id(&path)?;
    idempotency::once(state.store.pool(), &request, &seller.0, &(), async {
        let photo = owned(&state, photo_id, &seller).await?;
        let stored_size = if photo.status == PhotoStatus::PendingUpload {
            let size = stored_size(&state, &photo).await?;
            // Untag before confirming: a confirmed photo's original must never expire.
            state
                .originals
                .keep(&photo.object_key)
                .await
                .map_err(|error| Problem::internal(&*error))?;
            size
        } else {
            photo.size_bytes
        };
        let command = PhotoCommand::ConfirmUpload {
            seller_id: seller.0.clone(),
            stored_size,
        };
        let after = state
            .store
            .execute(photo_id, command, &correlation_id(&request))
            .await?;
        Ok(Answer::new(StatusCode::ACCEPTED, summary(&after)))
    })
    .await
}

/// The size of the uploaded original, refusing one that is missing or whose stored
/// checksum differs from the declared one.
async fn stored_size(state: &AppState, photo: &PhotoState) -> Result<u64, Problem> {
    let object = state
        .originals
        .head(&photo.object_key)
        .await
        .map_err(|error| Problem::internal(&*error))?
        .ok_or_else(|| {
            Problem::new(
                Code::Conflict,
                "nothing has been uploaded for this photo yet",
            )
        })?;
    if let (Some(declared), Some(stored)) = (&photo.checksum_sha256, &object.checksum_sha256)
        && declared != stored
    {
        return Err(Problem::new(
            Code::Conflict,
            "the uploaded file's SHA-256 differs from the declared checksum_sha256",
        ));
    }
    Ok(object.size_bytes)
}

/// `PATCH /v1/photos/{id}`
pub async fn update(
    state: web::Data<AppState>,
    request: HttpRequest,
    seller: Seller,
    path: web::Path<String>,
    body: web::Json<DetailsPatch>,
) -> Result<HttpResponse, Problem> {
    let photo_id = photo_id(&path)?;
    let patch = validate::details(body.into_inner())?;
    let command = PhotoCommand::UpdateDetails {
        seller_id: seller.0,
        caption: patch.caption,
        tags: patch.tags,
    };
    let after = state
        .store
        .execute(photo_id, command, &correlation_id(&request))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"photo_id": after.photo_id, "version": after.version})))
}

/// `DELETE /v1/photos/{id}`
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
        .execute(photo_id, command, &correlation_id(&request))
        .await?;
    Ok(HttpResponse::Accepted().json(summary(&after)))
}

/// `POST /v1/photos/{id}/reprocess`
pub async fn reprocess(
    state: web::Data<AppState>,
    request: HttpRequest,
    seller: Seller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let photo_id = photo_id(&path)?;
    idempotency::once(state.store.pool(), &request, &seller.0, &(), async {
        let command = PhotoCommand::RequestReprocess {
            seller_id: seller.0.clone(),
        };
        let after = state
            .store
            .execute(photo_id, command, &correlation_id(&request))
            .await?;
        Ok(Answer::new(
            StatusCode::ACCEPTED,
            json!({"photo_id": after.photo_id, "version": after.version}),
        ))
    })
    .await
}

/// `GET /v1/photos/{id}/history`
pub async fn history(
    state: web::Data<AppState>,
    seller: Seller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let photo_id = photo_id(&path)?;
    let events = state.store.history(photo_id).await?;
    let owner =
        PhotoState::fold(events.iter().map(|stored| &stored.event)).map(|photo| photo.seller_id);
    if owner.as_deref() != Some(seller.0.as_str()) {
        return Err(Problem::not_found());
    }
    let events: Vec<_> = events
        .into_iter()
        .map(|stored| {
            json!({
                "sequence": stored.sequence,
                "event_type": stored.event.event_type(),
                "event_version": stored.event_version,
                "occurred_at": stored.event.occurred_at(),
                "payload": stored.event,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"events": events})))
}

/// The photo, if it exists and belongs to `seller`; `404` otherwise.
async fn owned(state: &AppState, photo_id: Uuid, seller: &Seller) -> Result<PhotoState, Problem> {
    state
        .store
        .load(photo_id)
        .await?
        .filter(|photo| photo.seller_id == seller.0)
        .ok_or_else(Problem::not_found)
}
