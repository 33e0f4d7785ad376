//! `GET /v1/products/{product_id}/photos`: a product's gallery, page by page.
//!
//! The gallery is what a catalog page shows of a product: its `ready` photos only, in the
//! seller's order (photos the seller did not place follow, newest first). It is public, so
//! shared caches may keep a page for a while.

use actix_web::{HttpRequest, HttpResponse, get, web};
use catalog_http::Problem;
use catalog_read_model::{GALLERY_INDEX, GALLERY_KEY, GALLERY_RANK};

use super::ReadState;
use super::caching::{self, GALLERY_MAX_AGE, conditional};
use super::listing::{Listing, Page, PageQuery, page_tag};
use super::products::product_id;
use crate::error::ReadError;

/// A product's gallery: its `ready` photos in the seller's order (photos it did not place
/// follow, newest first). Anyone may read it.
#[utoipa::path(
    operation_id = "listProductPhotos",
    tag = "products",
    params(
        ("product_id", description = "The product's id"),
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 100, description = "Photos in a page, 1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the page before (opaque)"),
    ),
    responses(
        (status = OK, description = "A page of the gallery, in the seller's order", body = Page, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = NOT_MODIFIED, description = "The client holds this page (`If-None-Match`)"),
        (status = 400, description = "A malformed query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`limit` out of range, or a filter (`status`, `product_id`, `tag`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/products/{product_id}/photos")]
pub async fn gallery(
    state: web::Data<ReadState>,
    request: HttpRequest,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    if let Some(filter) = query.filters().next() {
        return Err(ReadError::invalid(filter, "a gallery lists all its ready photos").into());
    }
    let listing = Listing {
        index: GALLERY_INDEX,
        key: GALLERY_KEY,
        value: product_id(path.into_inner())?,
        sort: GALLERY_RANK,
        newest_first: false,
        conditions: Vec::new(),
    };
    let page = listing.page(&state, &query).await?;
    let cache = caching::public(GALLERY_MAX_AGE);
    Ok(conditional(&request, page_tag(&page), cache, &page))
}
