//! What the event store tells a seller about the past, and bringing it back: the change feed
//! (`GET /v1/sellers/me/changes`), a photo as it was (`GET /v1/photos/{id}?as_of=`), and
//! restoring a photo's details to an earlier version (`POST /v1/photos/{id}/restore`).
//!
//! Each photo shown is folded from the event store, so it is the write side's truth, not the
//! read model's. Its variants' URLs are shown only while their files exist: a deleted photo's
//! are removed, so a photo shown as it was before its deletion shows none.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use catalog_events::view::PhotoView;
use catalog_events::{PhotoState, PhotoStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use catalog_event_store::aggregate::PhotoCommand;
use catalog_http::Problem;
use catalog_http::auth::Seller;
use catalog_http::problem::FieldError;

use super::bodies::PhotoVersion;
use super::idempotency::{self, IdempotencyKey};
use super::validate;
use super::{Answering, AppState, command_problem, photo_id};

/// The query of a page of the change feed.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// Changes after this one (the `position` of the last change read, or the page's
    /// `next_after`); from the first without.
    after: Option<i64>,
    /// Changes in the page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// A page of the seller's change feed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "changes": [{"position": 1043, "photo_id": "3f2b8c1e-5d4a-4e6f-9b7c-1a2d3e4f5a6b", "event_type": "PhotoProcessed", "version": 4,
                 "occurred_at": "2026-11-30T09:12:49.654321Z", "photo": {"photo_id": "3f2b8c1e-5d4a-4e6f-9b7c-1a2d3e4f5a6b", "status": "ready", "version": 4}}],
    "next_after": 1043
}))]
pub struct Changes {
    pub changes: Vec<ChangeView>,
    /// The `after` of the next page, or `null` when no committed change follows (read again
    /// later with the last `position` for changes made since).
    pub next_after: Option<i64>,
}

/// One change of a seller's photo.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeView {
    /// Where the change is in the event store: a reader resumes after it.
    pub position: i64,
    pub photo_id: Uuid,
    pub event_type: &'static str,
    /// The photo's version after the change (its event's sequence).
    pub version: u64,
    pub occurred_at: DateTime<Utc>,
    /// The photo as it was after the change.
    pub photo: PhotoView,
}

/// The seller's photo changes, in the order they were committed.
#[utoipa::path(
    operation_id = "listSellerChanges",
    tag = "photos",
    security(("bearer" = [])),
    params(ChangesQuery),
    responses(
        (status = OK, description = "A page of the seller's changes, in the order they were committed", body = Changes),
        (status = 400, description = "A malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`limit` out of range, or `after` not the position of one of the seller's changes", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/sellers/me/changes")]
pub async fn changes(
    state: web::Data<AppState>,
    seller: Seller,
    query: web::Query<ChangesQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = validate::page_limit(query.limit)?;
    let page = state
        .store
        .changes(&seller.0, query.after, limit)
        .await
        .map_err(command_problem)?
        .ok_or_else(|| {
            Problem::invalid(vec![FieldError::new(
                "after",
                "not the position of one of your changes",
            )])
        })?;
    let photos: Vec<String> = page
        .changes
        .iter()
        .map(|change| change.event.photo_id.to_string())
        .collect();
    let deleted = state
        .store
        .deleted(&photos)
        .await
        .map_err(command_problem)?;
    let next_after = page
        .more
        .then(|| page.changes.last().map(|last| last.position))
        .flatten();
    let changes = page
        .changes
        .into_iter()
        .map(|change| {
            let event = change.event;
            let gone = deleted.contains(&event.photo_id.to_string());
            ChangeView {
                position: change.position,
                photo_id: event.photo_id,
                event_type: event.event.event_type(),
                version: event.sequence,
                occurred_at: event.event.occurred_at(),
                photo: view(&state, event.after, gone),
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(Changes {
        changes,
        next_after,
    }))
}

/// The query of a photo read from the event store.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PhotoQuery {
    /// The photo as it was at this moment (RFC 3339); as it is now without.
    #[param(value_type = Option<String>, format = DateTime)]
    as_of: Option<DateTime<Utc>>,
}

/// The photo from the event store: as it is now, or as it was at `as_of`.
#[utoipa::path(
    operation_id = "getOwnPhoto",
    tag = "photos",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The photo's id"), PhotoQuery),
    responses(
        (status = OK, description = "The photo, as it is or as it was at `as_of`", body = PhotoView),
        (status = 400, description = "A malformed query (`as_of` not RFC 3339)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such photo, another seller's, or not yet declared at `as_of`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/photos/{id}")]
pub async fn photo_as_of(
    state: web::Data<AppState>,
    seller: Seller,
    path: web::Path<String>,
    query: web::Query<PhotoQuery>,
) -> Result<HttpResponse, Problem> {
    let photo_id = photo_id(&path)?;
    let found = state
        .store
        .as_of(photo_id, query.as_of.unwrap_or_else(Utc::now))
        .await
        .map_err(command_problem)?
        .filter(|found| found.now.seller_id == seller.0)
        .ok_or_else(Problem::not_found)?;
    let then = found.then.ok_or_else(|| {
        Problem::new(
            catalog_http::problem::Code::NotFound,
            "the photo did not exist yet at that moment",
        )
    })?;
    let gone = found.now.status == PhotoStatus::Deleted;
    Ok(HttpResponse::Ok().json(view(&state, then, gone)))
}

/// The photo in `state`, without variants when its files are `gone`.
fn view(state: &AppState, mut photo: PhotoState, gone: bool) -> PhotoView {
    if gone {
        photo.variants.clear();
    }
    PhotoView::new(photo, &state.variants_base_url)
}

/// `POST /v1/photos/{id}/restore`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"version": 3}))]
pub struct Restore {
    /// The version whose caption, alt text and tags the photo takes again (see its history).
    #[schema(minimum = 1)]
    pub version: u64,
}

/// Bring a photo's caption, alt text and tags back to what they were at a version.
#[utoipa::path(
    operation_id = "restorePhoto",
    tag = "photos",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The photo's id"), IdempotencyKey),
    request_body = Restore,
    responses(
        (status = OK, description = "The details of that version are the photo's again (or already were)", body = PhotoVersion),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such photo, or another seller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The photo is deleted, or busy", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such version of the photo", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/photos/{id}/restore")]
pub async fn restore(
    state: web::Data<AppState>,
    request: HttpRequest,
    seller: Seller,
    path: web::Path<String>,
    body: web::Json<Restore>,
) -> Result<HttpResponse, Problem> {
    let photo_id = photo_id(&path)?;
    let body = body.into_inner();
    idempotency::once(state.store.pool(), &request, &seller.0, &body, async {
        let earlier = state
            .store
            .at_version(photo_id, body.version)
            .await
            .map_err(command_problem)?;
        let earlier = match earlier {
            Some(earlier) if earlier.seller_id == seller.0 => earlier,
            // Another seller's photo and no photo answer alike.
            Some(_) => return Err(Problem::not_found()),
            None => {
                super::photos::owned(&state, photo_id, &seller).await?;
                return Err(Problem::invalid(vec![FieldError::new(
                    "version",
                    "the photo has no such version",
                )]));
            }
        };
        // An empty caption or alt text clears it, as in a PATCH.
        let command = PhotoCommand::UpdateDetails {
            seller_id: seller.0.clone(),
            caption: Some(earlier.caption.unwrap_or_default()),
            alt_text: Some(earlier.alt_text.unwrap_or_default()),
            tags: Some(earlier.tags),
        };
        let answering = Answering::new(StatusCode::OK, |after: &PhotoState| {
            PhotoVersion::from(after)
        });
        super::execute(&state, &request, photo_id, command, answering).await
    })
    .await
}
