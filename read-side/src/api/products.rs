//! `GET /v1/products/{product_id}`: a product as catalog pages show it; `GET
//! /v1/products?ids=`: up to 100 of them in one call, for a listing page; and what a product id
//! may be.
//!
//! There is no product item in the read model: a product is what its photos say. Its gallery's
//! first photo is its primary photo and names its owner; without a ready photo, any live photo
//! of the product names the owner; with no photo at all it is not found. Its photo count is
//! counted by the gallery index. It is public, cached like a gallery page.
//!
//! So a product is read with two index queries (its gallery's first photo, its gallery's
//! count), never one key: a batch of products cannot be one `BatchGetItem`. It runs its
//! products' queries side by side instead (at most [`IN_FLIGHT`] at once), one HTTP round trip
//! for the client and one query's latency for the page.

use actix_web::{HttpRequest, HttpResponse, get, web};
use catalog_events::PhotoState;
use catalog_events::view::PhotoView;
use catalog_http::Problem;
use catalog_read_model::{GALLERY_INDEX, GALLERY_KEY, PRODUCT_INDEX, PRODUCT_KEY};
use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::caching::{self, GALLERY_MAX_AGE, conditional};
use super::listing::index_query;
use super::{ReadState, decode};
use crate::error::ReadError;

/// The longest product id the write side takes.
const MAX_PRODUCT_ID_CHARS: usize = 128;
/// Most products a batch may ask for.
const MAX_BATCH: usize = 100;
/// A batch's products read at once.
const IN_FLIGHT: usize = 32;

/// A product as catalog pages show it.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(example = json!({
    "product_id": "sku-1234", "seller_id": "seller-42", "photo_count": 3,
    "primary_photo": null
}))]
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
    operation_id = "getProduct",
    params(("product_id", description = "The product's id", example = "sku-1234")),
    responses(
        (status = OK, description = "The product", body = ProductView, headers(("ETag" = String), ("Cache-Control" = String))),
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
    let view = read(&state, product_id).await?.ok_or(ReadError::NotFound)?;
    let mut digest = Sha256::new();
    view.digest(&mut digest);
    let cache = caching::public(GALLERY_MAX_AGE);
    Ok(conditional(
        &request,
        caching::digest_tag(digest),
        cache,
        &view,
    ))
}

/// Products asked for together.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(example = json!({"items": [{"product_id": "sku-1234", "seller_id": "seller-42", "photo_count": 3, "primary_photo": null}],
    "not_found": ["sku-0000"]}))]
pub struct Products {
    /// The products found, in the order asked (each once).
    items: Vec<ProductView>,
    /// The ids asked for that no photo has (as `404` for one product).
    not_found: Vec<String>,
}

/// Up to 100 products at once, for a listing page: each one's owner, photo count and primary
/// photo, as `GET /v1/products/{product_id}` answers it. Anyone may read it.
#[utoipa::path(
    tag = "products",
    operation_id = "getProducts",
    params((
        "ids" = String, Query,
        description = "1 to 100 product ids, separated by commas (a comma inside an id is written `%2C`)",
        example = "sku-1234,sku-5678"
    )),
    responses(
        (status = OK, description = "The products found, and the ids no photo has", body = Products, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = NOT_MODIFIED, description = "The client holds this answer (`If-None-Match`)"),
        (status = 400, description = "No `ids`, or one that is not a product id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "More than 100 ids", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/products")]
pub async fn products(
    state: web::Data<ReadState>,
    request: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let ids = batch_ids(request.query_string())?;
    let found: Vec<Option<ProductView>> = futures_util::stream::iter(ids.clone())
        .map(|id| read(&state, id))
        .buffered(IN_FLIGHT)
        .try_collect()
        .await?;
    let mut digest = Sha256::new();
    let mut answer = Products {
        items: Vec::new(),
        not_found: Vec::new(),
    };
    for (id, view) in ids.into_iter().zip(found) {
        digest.update(id.as_bytes());
        digest.update([0]);
        match view {
            Some(view) => {
                view.digest(&mut digest);
                answer.items.push(view);
            }
            None => answer.not_found.push(id),
        }
    }
    let cache = caching::public(GALLERY_MAX_AGE);
    Ok(conditional(
        &request,
        caching::digest_tag(digest),
        cache,
        &answer,
    ))
}

/// The product ids of a batch's query string: `ids`, split at its commas before they are
/// decoded, each once, in the order given.
fn batch_ids(query: &str) -> Result<Vec<String>, ReadError> {
    let raw = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("ids="))
        .filter(|raw| !raw.is_empty())
        .ok_or_else(|| ReadError::Malformed("give `ids`: 1 to 100 product ids".to_owned()))?;
    let mut ids: Vec<String> = Vec::new();
    for piece in raw.split(',') {
        let plus_decoded = piece.replace('+', " ");
        let id = percent_encoding::percent_decode_str(&plus_decoded)
            .decode_utf8()
            .map_err(|_| ReadError::Malformed("a product id is UTF-8".to_owned()))?;
        let id = product_id(id.into_owned())?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.len() > MAX_BATCH {
        return Err(ReadError::invalid(
            "ids",
            format!("at most {MAX_BATCH} products at once"),
        ));
    }
    Ok(ids)
}

/// A product as its photos say, if any photo of it is live.
async fn read(state: &ReadState, product_id: String) -> Result<Option<ProductView>, ReadError> {
    let primary = first(state, GALLERY_INDEX, GALLERY_KEY, &product_id, true).await?;
    // Without a ready photo, any live photo of the product names its owner.
    let owner = match &primary {
        Some(primary) => Some(primary.seller_id.clone()),
        None => first(state, PRODUCT_INDEX, PRODUCT_KEY, &product_id, false)
            .await?
            .map(|found| found.seller_id),
    };
    let Some(seller_id) = owner else {
        return Ok(None);
    };
    let photo_count = if primary.is_some() {
        gallery_size(state, &product_id).await?
    } else {
        0
    };
    Ok(Some(ProductView {
        product_id,
        seller_id,
        photo_count,
        primary_photo: primary.map(|found| PhotoView::new(found, &state.variants_base_url)),
    }))
}

impl ProductView {
    /// What its tag is made of: the count and the primary photo's version.
    fn digest(&self, digest: &mut Sha256) {
        digest.update(self.photo_count.to_be_bytes());
        if let Some(primary) = &self.primary_photo {
            digest.update(primary.photo_id.as_bytes());
            digest.update(primary.version.to_be_bytes());
        }
    }
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

    #[test]
    fn a_batch_splits_its_ids_at_commas_before_decoding_them() {
        assert_eq!(
            batch_ids("ids=a,b%2Cc,a,d+e&x=1").unwrap(),
            ["a", "b,c", "d e"]
        );
        let hundred: Vec<String> = (0..100).map(|n| format!("p{n}")).collect();
        assert_eq!(
            batch_ids(&format!("ids={}", hundred.join(","))).unwrap(),
            hundred
        );
        assert!(matches!(
            batch_ids(&format!("ids={},p100", hundred.join(","))),
            Err(ReadError::Invalid { .. })
        ));
        for bad in ["", "ids=", "ids=a,,b", "ids=%FF", "x=a"] {
            assert!(
                matches!(batch_ids(bad), Err(ReadError::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}
