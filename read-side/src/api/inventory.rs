//! `GET /v1/sellers/me/photos`: the token's seller's own photos, page by page.
//!
//! The inventory is the seller's working view: every photo in every status, newest first, or
//! with `status` the listing of that status alone. It is the owner's only, so it is private
//! and never kept by shared caches.
//!
//! Each filter is served from an index: `product_id` reads the product's index (a product is
//! one seller's, so nearly every item it reads is kept), `status` the seller's index of that
//! status, neither the seller's whole inventory; what the index does not settle (the seller
//! of a product's photos, a status beside a product, a tag) DynamoDB checks as it reads. A tag
//! is one of a photo's many, which no DynamoDB index can key, so a tag filter reads the
//! seller's listing until a page is full: its cost grows with the photos read past.

use actix_web::{HttpRequest, HttpResponse, get, web};
use catalog_events::PhotoStatus;
use catalog_events::tag::MAX_TAG_CHARS;
use catalog_http::Problem;
use catalog_http::auth::Seller;
use catalog_read_model::{
    INVENTORY_INDEX, INVENTORY_KEY, LISTED_KEY, PRODUCT_INDEX, PRODUCT_KEY, STATUS_INDEX,
    STATUS_KEY,
};

use super::ReadState;
use super::caching::{self, conditional};
use super::listing::{Condition, Listing, Page, PageQuery, page_tag};
use super::products::product_id;
use crate::error::ReadError;

/// The token's seller's photos in every status, newest first; with `status`, `product_id` or
/// `tag` (any of them together), only those.
#[utoipa::path(
    operation_id = "listSellerPhotos",
    tag = "sellers",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = OK, description = "A page of the seller's photos, newest first", body = Page, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = NOT_MODIFIED, description = "The client holds this page (`If-None-Match`)"),
        (status = 400, description = "A malformed query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`limit` out of range, an unknown status, or a product id or tag the write side would not take", body = Problem, content_type = "application/problem+json"),
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
    let product = query
        .product_id
        .clone()
        .map(|product| {
            product_id(product).map_err(|_| {
                ReadError::invalid("product_id", "1 to 128 characters, none a control")
            })
        })
        .transpose()?;
    let tag = query.tag.as_deref().map(tag).transpose()?;
    // The most selective index that lists what is asked for; the rest is checked on reading.
    let mut listing = match (product, status) {
        (Some(product), status) => Listing {
            index: PRODUCT_INDEX,
            key: PRODUCT_KEY,
            value: product,
            sort: LISTED_KEY,
            newest_first: true,
            conditions: std::iter::once(Condition::Equals(INVENTORY_KEY, seller.0.clone()))
                .chain(status.map(|status| {
                    Condition::Equals(
                        STATUS_KEY,
                        catalog_read_model::status_key(&seller.0, status),
                    )
                }))
                .collect(),
        },
        (None, None) => Listing {
            index: INVENTORY_INDEX,
            key: INVENTORY_KEY,
            value: seller.0,
            sort: LISTED_KEY,
            newest_first: true,
            conditions: Vec::new(),
        },
        (None, Some(status)) => Listing {
            index: STATUS_INDEX,
            key: STATUS_KEY,
            value: catalog_read_model::status_key(&seller.0, status),
            sort: LISTED_KEY,
            newest_first: true,
            conditions: Vec::new(),
        },
    };
    listing.conditions.extend(tag.map(Condition::Tagged));
    let page = listing.page(&state, &query).await?;
    Ok(conditional(
        &request,
        page_tag(&page),
        caching::private(),
        &page,
    ))
}

/// A tag as the write side keeps it, if it could be one.
fn tag(tag: &str) -> Result<String, ReadError> {
    catalog_events::tag::normalize(tag).ok_or_else(|| {
        ReadError::invalid(
            "tag",
            format!("1 to {MAX_TAG_CHARS} printable characters, none invisible"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_looked_for_as_the_write_side_keeps_it() {
        assert_eq!(tag(" red ").unwrap(), "red");
        assert_eq!(tag("e\u{301}").unwrap(), "\u{e9}");
        for bad in ["", "  ", "a\nb", &"x".repeat(51)] {
            assert!(tag(bad).is_err(), "{bad:?}");
        }
    }
}
