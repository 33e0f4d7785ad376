//! The product commands of the contract: the gallery's order, read and set.

use actix_web::http::header::ETag;
use actix_web::{HttpRequest, HttpResponse, get, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use catalog_http::Problem;
use catalog_http::auth::Seller;
use catalog_http::problem::FieldError;

use super::{AppState, cause, command_problem, preconditions, validate};

/// Most photos a reorder may name.
const MAX_ORDERED: usize = 1000;

/// `PUT /v1/products/{product_id}/photo-order`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"photo_ids": ["0b7e1c2a-4f6d-4c1e-9a3b-2d5f8e7c6b1a", "5c9d2e8f-1a3b-4c7d-8e6f-0a1b2c3d4e5f"]}))]
pub struct PhotoOrder {
    /// The product's photos to show first, in this order (the gallery shows those that are
    /// ready; its first is the primary photo). Its other photos follow, newest first.
    #[schema(min_items = 1, max_items = 1000)]
    pub photo_ids: Vec<Uuid>,
}

/// The answer of a reorder.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"product_id": "sku-1234", "version": 4}))]
pub struct ProductVersion {
    pub product_id: String,
    /// How many reorders of the product's gallery are stored.
    pub version: u64,
}

/// A product's gallery order as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "product_id": "sku-1234", "version": 4,
    "photo_ids": ["5c9d2e8f-1a3b-4c7d-8e6f-0a1b2c3d4e5f", "0b7e1c2a-4f6d-4c1e-9a3b-2d5f8e7c6b1a"]
}))]
pub struct ProductOrder {
    pub product_id: String,
    /// How many reorders of the product's gallery are stored: its `ETag` is `"v<version>"`.
    pub version: u64,
    /// The seller's photos of the product that are not deleted, in gallery order: the placed
    /// ones by their place, then the others newest first. The gallery shows those ready.
    pub photo_ids: Vec<Uuid>,
}

/// The order of a product's gallery, with every photo of it that is not deleted (ready or
/// not): what a reorder starts from. The owner's alone.
#[utoipa::path(
    operation_id = "getProductPhotoOrder",
    tag = "products",
    security(("bearer" = [])),
    params(("product_id", description = "The product's id", example = "sku-1234")),
    responses(
        (status = OK, description = "The product's order", body = ProductOrder, headers(("ETag" = String, description = "`\"v<version>\"`, for `If-Match` on the reorder"))),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The product is another seller's", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/products/{product_id}/photo-order")]
pub async fn order(
    state: web::Data<AppState>,
    seller: Seller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let product_id = path.into_inner();
    if !validate::is_product_id(&product_id) {
        return Err(Problem::not_found());
    }
    let order = state
        .store
        .order_of(&seller.0, &product_id)
        .await
        .map_err(command_problem)?;
    Ok(HttpResponse::Ok()
        .insert_header(ETag(preconditions::version_tag(order.version)))
        .json(ProductOrder {
            product_id,
            version: order.version,
            photo_ids: order.photo_ids,
        }))
}

/// Set the order of a product's gallery.
#[utoipa::path(
    operation_id = "reorderProductPhotos",
    tag = "products",
    security(("bearer" = [])),
    params(
        ("product_id", description = "The product's id", example = "sku-1234"),
        ("If-Match" = Option<String>, Header, description = "The order's `ETag` as the client read it (`\"v4\"`): the reorder is made only if no other was made since", example = "\"v4\""),
    ),
    request_body = PhotoOrder,
    responses(
        (status = OK, description = "The gallery shows this order; the order's version after it", body = ProductVersion, headers(("ETag" = String, description = "The order's tag after the reorder"))),
        (status = 400, description = "JSON that cannot be read", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The product is another seller's, or busy", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The order changed after the version `If-Match` names; nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A photo that is not this product's, named twice, too many, or a body of the wrong shape (a photo id that is not a UUID)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/v1/products/{product_id}/photo-order")]
pub async fn reorder(
    state: web::Data<AppState>,
    request: HttpRequest,
    seller: Seller,
    path: web::Path<String>,
    body: web::Json<PhotoOrder>,
) -> Result<HttpResponse, Problem> {
    let product_id = path.into_inner();
    if !validate::is_product_id(&product_id) {
        return Err(Problem::not_found());
    }
    let versions = preconditions::if_match(&request)?;
    let count = body.photo_ids.len();
    if !(1..=MAX_ORDERED).contains(&count) {
        return Err(Problem::invalid(vec![FieldError::new(
            "photo_ids",
            format!("must list 1 to {MAX_ORDERED} photos"),
        )]));
    }
    let version = state
        .store
        .reorder_if(
            &seller.0,
            &product_id,
            &body.photo_ids,
            &cause(&request),
            versions.as_deref(),
        )
        .await
        .map_err(command_problem)?;
    Ok(HttpResponse::Ok()
        .insert_header(ETag(preconditions::version_tag(version)))
        .json(ProductVersion {
            product_id,
            version,
        }))
}
