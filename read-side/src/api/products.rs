//! `GET /v1/products/{product_id}`: a product as catalog pages show it, and what a product id
//! in a path may be.
//!
//! There is no product item in the read model: a product is what its photos say. Its gallery's
//! first photo is its primary photo and names its owner; without a ready photo, any live photo
//! of the product names the owner; with no photo at all it is not found. Its photo count is
//! counted by the gallery index. It is public, cached like a gallery page.

use actix_web::{HttpRequest, HttpResponse, get, web};
use catalog_events::PhotoState;
use catalog_events::view::PhotoView;
use catalog_http::Problem;
use catalog_read_model::{GALLERY_INDEX, GALLERY_KEY, PRODUCT_INDEX, PRODUCT_KEY};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::caching::{self, GALLERY_MAX_AGE, conditional};
use super::listing::index_query;
use super::{ReadState, decode};
use crate::error::ReadError;

/// The longest product id the write side takes.
const MAX_PRODUCT_ID_CHARS: usize = 128;

/// A product as catalog pages show it.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ProductView {
    product_id: String,
    /// The seller the product belongs to.
    seller_id: String,
    /// Its `ready` photos: those its gallery shows.
    photo_count: u64,
    /// The first photo of its gallery; `null` while none of its photos is ready.
    primary_photo: Option<PhotoView>,
}

/// A product: its owner, how many photos its gallery shows and the first of them. Anyone may
/// read it.
#[utoipa::path(
    tag = "products",
    params(("product_id", description = "The product's id")),
    responses(
        (status = OK, body = ProductView, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = NOT_MODIFIED, description = "The client holds this version (`If-None-Match`)"),
        (status = 400, description = "Not a product id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No photo of this product", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/products/{product_id}")]
pub async fn product(
    state: web::Data<ReadState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let product_id = product_id(path.into_inner())?;
    let primary = first(&state, GALLERY_INDEX, GALLERY_KEY, &product_id, true).await?;
    // Without a ready photo, any live photo of the product names its owner.
    let owner = match &primary {
        Some(primary) => Some(primary.seller_id.clone()),
        None => first(&state, PRODUCT_INDEX, PRODUCT_KEY, &product_id, false)
            .await?
            .map(|found| found.seller_id),
    };
    let seller_id = owner.ok_or(ReadError::NotFound)?;
    let photo_count = if primary.is_some() {
        gallery_size(&state, &product_id).await?
    } else {
        0
    };
    let mut digest = Sha256::new();
    digest.update(photo_count.to_be_bytes());
    if let Some(primary) = &primary {
        digest.update(primary.photo_id.as_bytes());
        digest.update(primary.version.to_be_bytes());
    }
    let tag = caching::digest_tag(digest);
    let view = ProductView {
        product_id,
        seller_id,
        photo_count,
        primary_photo: primary.map(|found| PhotoView::new(found, &state.variants_base_url)),
    };
    let cache = caching::public(GALLERY_MAX_AGE);
    Ok(conditional(&request, tag, cache, &view))
}

/// The product id in a path, if it is one the write side could have taken.
pub(super) fn product_id(path: String) -> Result<String, ReadError> {
    let chars = path.chars().count();
    if chars == 0 || chars > MAX_PRODUCT_ID_CHARS || path.chars().any(char::is_control) {
        return Err(ReadError::Malformed(format!(
            "a product id is 1 to {MAX_PRODUCT_ID_CHARS} characters, none a control"
        )));
    }
    Ok(path)
}

/// The first photo of the product in `index` (in the index's order, or its reverse when not
/// `forward`), if the index lists any.
async fn first(
    state: &ReadState,
    index: &str,
    key: &str,
    product_id: &str,
    forward: bool,
) -> Result<Option<PhotoState>, ReadError> {
    let answer = index_query(state, index, key, product_id)
        .scan_index_forward(forward)
        .limit(1)
        .send()
        .await?;
    answer
        .items
        .unwrap_or_default()
        .first()
        .map(decode)
        .transpose()
}

/// How many photos the product's gallery shows (counted by the index, a page at a time).
async fn gallery_size(state: &ReadState, product_id: &str) -> Result<u64, ReadError> {
    let mut count = 0;
    let mut start = None;
    loop {
        let answer = index_query(state, GALLERY_INDEX, GALLERY_KEY, product_id)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        count += u64::try_from(answer.count).unwrap_or_default();
        match answer.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_id_is_one_to_128_characters_none_a_control() {
        for good in ["a", "sku-1", "ü", &"x".repeat(128)] {
            assert_eq!(product_id(good.to_owned()).ok().as_deref(), Some(good));
        }
        for bad in ["", "a\nb", "\u{7f}", &"x".repeat(129)] {
            assert!(
                matches!(product_id(bad.to_owned()), Err(ReadError::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}
