//! The read paths of `API.md`, on actix-web, a file per resource as the write side's API is
//! split; this file holds what they share: the state, the description, the routes, readiness.
//!
//! - [`photos`]: a photo, with read-your-writes by `min_version`.
//! - [`galleries`]: a product's gallery; [`products`]: a product, or a batch of them.
//! - [`inventory`]: the token's seller's photos.
//! - [`listing`]: what the listings share: the page query, the page, one index listing read a
//!   page at a time behind a cursor.
//! - [`caching`]: how long caches may keep an answer, its `ETag`, and `304`.
//!
//! Every answer carries an `ETag` (the photo's version, or a digest of a page) and a
//! `Cache-Control` that lets shared caches keep what is public (ready photos, galleries) and
//! keeps the owner's views private; a matching `If-None-Match` answers `304`. Every failure is
//! a [`ReadError`], and `crate::error` alone says which problem it becomes. Tokens, health and
//! request timing are `catalog-http`'s, shared with the write API.

pub mod caching;
pub mod galleries;
pub mod inventory;
pub mod listing;
pub mod photos;
pub mod products;

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use catalog_events::PhotoState;
use catalog_http::Problem;
use catalog_http::openapi::Description;
use catalog_http::ops::Health;
use catalog_http::service::Api;
use catalog_read_model::Item;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ReadError;

/// What every handler shares.
pub struct ReadState {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub variants_base_url: String,
    pub consistency_wait: Duration,
}

/// What the read API says of itself in its OpenAPI document.
pub const DESCRIPTION: Description = Description {
    title: "Photo catalog: read API",
    summary: "Catalog pages read photos, product galleries and sellers' inventories.",
    local_url: "http://127.0.0.1:8081",
    webhooks: None,
};

/// The read API: each caller is rate-limited, by seller with a valid token, else by address.
pub const API: Api = Api {
    description: &DESCRIPTION,
    routes,
    limit_sellers: false,
    limit_callers: true,
};

pub fn routes(config: &mut ServiceConfig) {
    config
        .app_data(catalog_http::problem::query_config())
        .configure(catalog_http::ops::routes)
        .service(readyz)
        .service(photos::photo)
        .service(galleries::gallery)
        .service(products::products)
        .service(products::product)
        .service(inventory::inventory)
        .default_service(web::to(|| async {
            HttpResponse::from_error(Problem::route_not_found())
        }));
}

/// The read model answers: the read API can serve.
#[utoipa::path(
    operation_id = "getReadiness",
    tag = "operations",
    responses(
        (status = OK, description = "The read model answers", body = Health),
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
        .map_err(ReadError::not_ready)?;
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}

/// The photo state a read-model item holds. An item that does not decode is the read model's
/// failure, never the client's.
fn decode(item: &Item) -> Result<PhotoState, ReadError> {
    catalog_read_model::decode(item).map_err(|error| ReadError::Decode(Box::new(error)))
}
