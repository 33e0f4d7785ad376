//! The read paths of `API.md`.
//!
//! Every answer carries an `ETag` (the photo's version, or a digest of a page) and a
//! `Cache-Control` that lets shared caches keep what is public (ready photos, galleries) and
//! keeps the owner's views private; a matching `If-None-Match` answers `304`.

use std::time::{Duration, Instant};

use actix_web::http::header::{
    self, CacheControl, CacheDirective, ETag, EntityTag, Header, IfNoneMatch,
};
use actix_web::{HttpRequest, HttpResponse, get, web};
use aws_sdk_dynamodb::types::AttributeValue;
use catalog_events::PhotoStatus;
use catalog_http::Problem;
use catalog_http::auth::{MaybeSeller, Seller};
use catalog_http::openapi::Description;
use catalog_http::ops::Health;
use catalog_http::problem::{Code, FieldError};
use catalog_http::service::Api;
use catalog_read_model::{
    GALLERY_INDEX, GALLERY_KEY, GALLERY_RANK, INVENTORY_INDEX, INVENTORY_KEY, LISTED_KEY, PHOTO_ID,
    PRODUCT_INDEX, PRODUCT_KEY, STATUS_INDEX, STATUS_KEY,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::cursor;
use catalog_events::view::{self as photo_view, PhotoView};

/// What every handler shares.
pub struct ReadState {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub variants_base_url: String,
    pub consistency_wait: Duration,
}

const DEFAULT_LIMIT: i32 = 20;
const MAX_LIMIT: i32 = 100;
/// Seconds shared caches may keep a ready photo, and a gallery page.
const PUBLIC_PHOTO_MAX_AGE: u32 = 60;
const GALLERY_MAX_AGE: u32 = 30;

/// What the read API says of itself in its OpenAPI document.
pub const DESCRIPTION: Description = Description {
    title: "Photo catalog: read API",
    summary: "Catalog pages read photos, product galleries and sellers' inventories.",
    local_url: "http://127.0.0.1:8081",
};

/// The read API: requests without a token are rate-limited by client address.
pub const API: Api = Api {
    description: &DESCRIPTION,
    routes,
    limit_sellers: false,
    limit_addresses: true,
};

pub fn routes(config: &mut ServiceConfig) {
    config
        .app_data(catalog_http::problem::query_config())
        .configure(catalog_http::ops::routes)
        .service(readyz)
        .service(photo)
        .service(gallery)
        .service(product)
        .service(inventory)
        .default_service(web::to(|| async {
            HttpResponse::from_error(Problem::route_not_found())
        }));
}

/// The read model answers: the read API can serve.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = OK, body = Health),
        (status = 503, description = "The read model does not answer", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
async fn readyz(state: web::Data<ReadState>) -> Result<HttpResponse, Problem> {
    state
        .dynamodb
        .describe_table()
        .table_name(&state.table)
        .send()
        .await
        .map_err(|error| Problem::not_ready("the read model", &error))?;
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PhotoQuery {
    /// Answer once the read model holds this version of the photo or a later one (read your
    /// writes), waiting at most `CATALOG_CONSISTENCY_WAIT_MS`; past that, `503`.
    min_version: Option<u64>,
}

/// A photo. Photos that are not `ready` are shown to their owner only.
#[utoipa::path(
    tag = "photos",
    security((), ("bearer" = [])),
    params(("id", description = "The photo's id (a UUID)"), PhotoQuery),
    responses(
        (status = OK, body = PhotoView, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = NOT_MODIFIED, description = "The client holds this version (`If-None-Match`)"),
        (status = 400, description = "A malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such photo, or not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`min_version` did not arrive in time", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
    )
)]
#[get("/v1/photos/{id}")]
async fn photo(
    state: web::Data<ReadState>,
    request: HttpRequest,
    viewer: MaybeSeller,
    path: web::Path<String>,
    query: web::Query<PhotoQuery>,
) -> Result<HttpResponse, Problem> {
    let photo_id = Uuid::parse_str(&path).map_err(|_| Problem::not_found())?;
    let wanted = query.min_version.unwrap_or(0);
    let deadline = Instant::now() + state.consistency_wait;
    let mut pause = Duration::from_millis(25);
    let photo = loop {
        let found = get(&state, photo_id, query.min_version.is_some()).await?;
        match found {
            Some(photo) if photo.version >= wanted => break photo,
            None if query.min_version.is_none() => return Err(Problem::not_found()),
            _ if Instant::now() + pause > deadline => {
                return Err(Problem::unavailable(format!(
                    "the read model does not hold version {wanted} of this photo yet"
                )));
            }
            _ => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(400));
            }
        }
    };
    let viewer = viewer.0.map(|Seller(id)| id);
    if !photo_view::visible_to(&photo, viewer.as_deref()) {
        return Err(Problem::not_found());
    }
    let public = photo.status == PhotoStatus::Ready;
    let tag = EntityTag::new_strong(format!("v{}", photo.version));
    let view = PhotoView::new(photo, &state.variants_base_url);
    let cache = if public {
        vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(PUBLIC_PHOTO_MAX_AGE),
        ]
    } else {
        vec![CacheDirective::Private, CacheDirective::NoCache]
    };
    Ok(conditional(&request, tag, cache, &view))
}

async fn get(
    state: &ReadState,
    photo_id: Uuid,
    consistent: bool,
) -> Result<Option<catalog_events::PhotoState>, Problem> {
    let answer = state
        .dynamodb
        .get_item()
        .table_name(&state.table)
        .key(PHOTO_ID, AttributeValue::S(photo_id.to_string()))
        .consistent_read(consistent)
        .send()
        .await
        .map_err(|error| Problem::internal(&error))?;
    answer
        .item
        .map(|item| catalog_read_model::decode(&item).map_err(|error| Problem::internal(&error)))
        .transpose()
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Photos in a page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i32>,
    /// The `next_cursor` of the page before (opaque).
    cursor: Option<String>,
    /// Only photos in this status (the inventory only).
    #[param(value_type = Option<PhotoStatus>)]
    status: Option<String>,
}

/// A product's gallery: its `ready` photos in the seller's order (photos it did not place
/// follow, newest first). Anyone may read it.
#[utoipa::path(
    tag = "products",
    params(
        ("product_id", description = "The product's id"),
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 100, description = "Photos in a page, 1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the page before (opaque)"),
    ),
    responses(
        (status = OK, body = Page, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = NOT_MODIFIED, description = "The client holds this page (`If-None-Match`)"),
        (status = 400, description = "A malformed query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`limit` out of range, or a `status` filter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/products/{product_id}/photos")]
async fn gallery(
    state: web::Data<ReadState>,
    request: HttpRequest,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    if query.status.is_some() {
        return Err(Problem::invalid(vec![FieldError::new(
            "status",
            "a gallery lists ready photos only",
        )]));
    }
    let listing = Listing {
        index: GALLERY_INDEX,
        key: GALLERY_KEY,
        value: product_id(path.into_inner())?,
        sort: GALLERY_RANK,
        newest_first: false,
    };
    let page = listing.page(&state, &query).await?;
    let cache = vec![
        CacheDirective::Public,
        CacheDirective::MaxAge(GALLERY_MAX_AGE),
    ];
    Ok(conditional(&request, page_tag(&page), cache, &page))
}

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
async fn inventory(
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
                .map_err(|_| {
                    Problem::invalid(vec![FieldError::new("status", "not a photo status")])
                })
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
    let cache = vec![CacheDirective::Private, CacheDirective::NoCache];
    Ok(conditional(&request, page_tag(&page), cache, &page))
}

/// The longest product id the write side takes.
const MAX_PRODUCT_ID_CHARS: usize = 128;

/// The product id in a path, if it is one the write side could have taken.
fn product_id(path: String) -> Result<String, Problem> {
    let chars = path.chars().count();
    if chars == 0 || chars > MAX_PRODUCT_ID_CHARS || path.chars().any(char::is_control) {
        return Err(Problem::new(
            Code::Malformed,
            format!("a product id is 1 to {MAX_PRODUCT_ID_CHARS} characters, none a control"),
        ));
    }
    Ok(path)
}

/// A page of photos.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Page {
    items: Vec<PhotoView>,
    /// The cursor of the next page, or `null` on the last.
    next_cursor: Option<String>,
}

/// One index listing: the items whose `key` is `value`, in the order of `sort`.
struct Listing {
    index: &'static str,
    key: &'static str,
    value: String,
    sort: &'static str,
    /// Read backwards (the listed key's newest first) rather than forwards.
    newest_first: bool,
}

impl Listing {
    async fn page(&self, state: &ReadState, query: &PageQuery) -> Result<Page, Problem> {
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Problem::invalid(vec![FieldError::new(
                "limit",
                format!("must be 1 to {MAX_LIMIT}"),
            )]));
        }
        let start = query
            .cursor
            .as_deref()
            .map(|cursor| cursor::decode(cursor, self.key, &self.value, self.sort))
            .transpose()
            .map_err(|error| Problem::new(Code::Malformed, error.to_string()))?;
        // One more than a page: a next page exists only if it comes. DynamoDB may stop short
        // of it (at 1 MB read): then the query goes on from where it stopped.
        let mut found = Vec::new();
        let mut start = start;
        loop {
            let answer = index_query(state, self.index, self.key, &self.value)
                .scan_index_forward(!self.newest_first)
                .limit(limit + 1 - found.len() as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| Problem::internal(&error))?;
            found.extend(answer.items.unwrap_or_default());
            match answer.last_evaluated_key {
                Some(key) if !key.is_empty() && found.len() <= limit as usize => start = Some(key),
                _ => break,
            }
        }
        let next_cursor = if found.len() > limit as usize {
            found.truncate(limit as usize);
            found.last().map(|last| cursor::encode(&self.key_of(last)))
        } else {
            None
        };
        let items = found
            .iter()
            .map(|item| {
                catalog_read_model::decode(item)
                    .map(|found| PhotoView::new(found, &state.variants_base_url))
            })
            .collect::<Result<_, _>>()
            .map_err(|error| Problem::internal(&error))?;
        Ok(Page { items, next_cursor })
    }

    /// The index key of an item of this listing: where the next page starts after it.
    fn key_of(&self, item: &catalog_read_model::Item) -> cursor::Key {
        [PHOTO_ID, self.key, self.sort]
            .into_iter()
            .filter_map(|name| Some((name.to_owned(), item.get(name)?.clone())))
            .collect()
    }
}

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
async fn product(
    state: web::Data<ReadState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let product_id = product_id(path.into_inner())?;
    let first = |index, key, sort_forward| {
        index_query(&state, index, key, &product_id)
            .scan_index_forward(sort_forward)
            .limit(1)
            .send()
    };
    let decode_first = |items: Option<Vec<catalog_read_model::Item>>| {
        items
            .unwrap_or_default()
            .first()
            .map(catalog_read_model::decode)
            .transpose()
            .map_err(|error| Problem::internal(&error))
    };
    let primary = decode_first(
        first(GALLERY_INDEX, GALLERY_KEY, true)
            .await
            .map_err(|error| Problem::internal(&error))?
            .items,
    )?;
    // Without a ready photo, any live photo of the product names its owner.
    let owner = match &primary {
        Some(primary) => Some(primary.seller_id.clone()),
        None => decode_first(
            first(PRODUCT_INDEX, PRODUCT_KEY, false)
                .await
                .map_err(|error| Problem::internal(&error))?
                .items,
        )?
        .map(|found| found.seller_id),
    };
    let seller_id = owner.ok_or_else(Problem::not_found)?;
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
    let tag = EntityTag::new_strong(hex::encode(&digest.finalize()[..12]));
    let view = ProductView {
        product_id,
        seller_id,
        photo_count,
        primary_photo: primary.map(|found| PhotoView::new(found, &state.variants_base_url)),
    };
    let cache = vec![
        CacheDirective::Public,
        CacheDirective::MaxAge(GALLERY_MAX_AGE),
    ];
    Ok(conditional(&request, tag, cache, &view))
}

/// How many photos the product's gallery shows (counted by the index, a page at a time).
async fn gallery_size(state: &ReadState, product_id: &str) -> Result<u64, Problem> {
    let mut count = 0;
    let mut start = None;
    loop {
        let answer = index_query(state, GALLERY_INDEX, GALLERY_KEY, product_id)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|error| Problem::internal(&error))?;
        count += u64::try_from(answer.count).unwrap_or_default();
        match answer.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(count),
        }
    }
}

/// A query of the items of `index` whose `key` is `value`.
fn index_query(
    state: &ReadState,
    index: &str,
    key: &str,
    value: &str,
) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
    state
        .dynamodb
        .query()
        .table_name(&state.table)
        .index_name(index)
        .key_condition_expression("#key = :value")
        .expression_attribute_names("#key", key)
        .expression_attribute_values(":value", AttributeValue::S(value.to_owned()))
}

fn page_tag(page: &Page) -> EntityTag {
    let mut digest = Sha256::new();
    for item in &page.items {
        digest.update(item.photo_id.as_bytes());
        digest.update(item.version.to_be_bytes());
    }
    digest.update(page.next_cursor.as_deref().unwrap_or_default());
    EntityTag::new_strong(hex::encode(&digest.finalize()[..12]))
}

/// The answer, or `304` when the client already holds this version.
fn conditional<T: serde::Serialize>(
    request: &HttpRequest,
    tag: EntityTag,
    cache: Vec<CacheDirective>,
    body: &T,
) -> HttpResponse {
    let holds = request.headers().contains_key(header::IF_NONE_MATCH)
        && match IfNoneMatch::parse(request) {
            Ok(IfNoneMatch::Any) => true,
            Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|held| held.weak_eq(&tag)),
            Err(_) => false,
        };
    let mut response = if holds {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header(ETag(tag))
        .insert_header(CacheControl(cache));
    if holds {
        response.finish()
    } else {
        response.json(body)
    }
}
