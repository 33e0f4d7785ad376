//! `GET /v1/sellers/me/photos`: the token's seller's own photos, page by page.
//!
//! The inventory is the seller's working view: every photo in every status, newest first, or
//! with `status` the listing of that status alone. It is the owner's only, so it is private
//! and never kept by shared caches.

use actix_web::{HttpRequest, HttpResponse, get, web};
use catalog_events::PhotoStatus;
use catalog_http::Problem;
use catalog_http::auth::Seller;
use catalog_read_model::{INVENTORY_INDEX, INVENTORY_KEY, LISTED_KEY, STATUS_INDEX, STATUS_KEY};

use super::ReadState;
use super::caching::{self, conditional};
use super::listing::{Listing, Page, PageQuery, page_tag};
use crate::error::ReadError;

/// The token's seller's photos in every status, newest first; with `status`, only those.
#[utoipa::path(
    tag = "sellers",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = OK, body = Page, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = NOT_MODIFIED, description = "The client holds this page (`If-None-Match`)"),
        (status = 400, description = "A malformed query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`limit` out of range, or an unknown status", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/sellers/me/photos")]
pub async fn inventory(
    state: web::Data<ReadState>,
    request: HttpRequest,
    seller: Seller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let status = query
        .status
        .as_deref()
        .map(|status| {
            serde_json::from_value::<PhotoStatus>(serde_json::Value::String(status.to_owned()))
                .map_err(|_| ReadError::invalid("status", "not a photo status"))
        })
        .transpose()?;
    // With a status, the listing of that status alone: every page is full but the last.
    let listing = match status {
        None => Listing {
            index: INVENTORY_INDEX,
            key: INVENTORY_KEY,
            value: seller.0,
            sort: LISTED_KEY,
            newest_first: true,
        },
        Some(status) => Listing {
            index: STATUS_INDEX,
            key: STATUS_KEY,
            value: catalog_read_model::status_key(&seller.0, status),
            sort: LISTED_KEY,
            newest_first: true,
        },
    };
    let page = listing.page(&state, &query).await?;
    Ok(conditional(
        &request,
        page_tag(&page),
        caching::private(),
        &page,
    ))
}
