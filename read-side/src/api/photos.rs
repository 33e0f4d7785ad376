//! `GET /v1/photos/{id}`: one photo, as the caller may see it.
//!
//! A photo that is not `ready` is its owner's alone: to anyone else it is not found, like an
//! id that names no photo. A ready photo is the same for everyone, token or not. A client that
//! has just changed a photo (or got a webhook for a version) passes that version as
//! `min_version`, and the answer waits (reading strongly consistently) until the projection
//! has caught up: read-your-writes from the read model, without Postgres. What the caller may
//! see is judged at that version: a photo hidden from the caller there is `404` at once, and
//! one that never gets there is `503` only to a caller who may see it (or, for an id the read
//! model does not hold, to a caller with a token: its own new photo), else `404` as for an
//! unknown id, so the status tells nobody that a hidden photo exists. Waits count against a
//! lower rate limit.

use std::time::{Duration, Instant};

use actix_web::http::header::EntityTag;
use actix_web::{HttpRequest, HttpResponse, get, web};
use aws_sdk_dynamodb::types::AttributeValue;
use catalog_events::view::{self as photo_view, PhotoView};
use catalog_events::{PhotoState, PhotoStatus};
use catalog_http::Problem;
use catalog_http::auth::{MaybeSeller, Seller};
use catalog_read_model::PHOTO_ID;
use catalog_runtime::backoff::Backoff;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::caching::{self, PUBLIC_PHOTO_MAX_AGE, conditional};
use super::{ReadState, decode};
use crate::error::ReadError;

/// The pauses between reads while waiting for a photo's version (read-your-writes).
const CONSISTENCY_POLL: Backoff =
    Backoff::new(Duration::from_millis(25), Duration::from_millis(400));

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PhotoQuery {
    /// Answer once the read model holds this version of the photo or a later one (read your
    /// writes), waiting at most `CATALOG_CONSISTENCY_WAIT_MS`; past that, `503` to a caller who
    /// may see the photo (or, for an id not held yet, has a valid token), else `404`. A photo
    /// the caller may not see at that version is `404` at once.
    min_version: Option<u64>,
}

/// A photo. Photos that are not `ready` are shown to their owner only.
#[utoipa::path(
    operation_id = "getPhoto",
    tag = "photos",
    security((), ("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The photo's id"), PhotoQuery),
    responses(
        (status = OK, description = "The photo", body = PhotoView, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = NOT_MODIFIED, description = "The client holds this version (`If-None-Match`)"),
        (status = 400, description = "A malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such photo, or not visible to the caller (a token that does not verify is no token; with `min_version`, judged at that version)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`min_version` did not arrive in time", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
    )
)]
#[get("/v1/photos/{id}")]
pub async fn photo(
    state: web::Data<ReadState>,
    request: HttpRequest,
    viewer: MaybeSeller,
    path: web::Path<String>,
    query: web::Query<PhotoQuery>,
) -> Result<HttpResponse, Problem> {
    let photo_id = Uuid::parse_str(&path).map_err(|_| ReadError::NotFound)?;
    let viewer = viewer.0.map(|Seller(id)| id);
    let wanted = query.min_version.unwrap_or(0);
    let deadline = Instant::now() + state.consistency_wait;
    let mut attempt = 0;
    let photo = loop {
        attempt += 1;
        let pause = CONSISTENCY_POLL.delay(attempt);
        let found = get_photo(&state, photo_id, query.min_version.is_some()).await?;
        let visible = |photo: &PhotoState| photo_view::visible_to(photo, viewer.as_deref());
        match found {
            // At the version asked for, the photo is what the caller may see of it.
            Some(photo) if photo.version >= wanted && visible(&photo) => break photo,
            Some(photo) if photo.version >= wanted => return Err(ReadError::NotFound.into()),
            None if query.min_version.is_none() => return Err(ReadError::NotFound.into()),
            // Out of time: "not yet" only to a caller who may see what is there (its owner, or
            // anyone for a ready photo), or, for a photo not there at all, to a caller with a
            // token (its own new photo); to anyone else, as for an unknown id.
            found if Instant::now() + pause > deadline => {
                let owed = match &found {
                    Some(photo) => visible(photo),
                    None => viewer.is_some(),
                };
                return Err(if owed {
                    ReadError::NotYet { version: wanted }
                } else {
                    ReadError::NotFound
                }
                .into());
            }
            _ => tokio::time::sleep(pause).await,
        }
    };
    let public = photo.status == PhotoStatus::Ready;
    let tag = EntityTag::new_strong(format!("v{}", photo.version));
    let view = PhotoView::new(photo, &state.variants_base_url);
    let cache = if public {
        caching::public(PUBLIC_PHOTO_MAX_AGE)
    } else {
        caching::private()
    };
    Ok(conditional(&request, tag, cache, &view))
}

/// The photo as the read model holds it, if it holds it; `consistent` reads the latest write
/// (what waiting for a version needs).
async fn get_photo(
    state: &ReadState,
    photo_id: Uuid,
    consistent: bool,
) -> Result<Option<PhotoState>, ReadError> {
    let answer = state
        .dynamodb
        .get_item()
        .table_name(&state.table)
        .key(PHOTO_ID, AttributeValue::S(photo_id.to_string()))
        .consistent_read(consistent)
        .send()
        .await?;
    answer.item.as_ref().map(decode).transpose()
}
