//! The product commands of the contract: the gallery's order.

use actix_web::{HttpRequest, HttpResponse, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use catalog_http::Problem;
use catalog_http::auth::Seller;
use catalog_http::problem::FieldError;

use super::validate;
use super::{AppState, cause, command_problem};

/// Most photos a reorder may name.
const MAX_ORDERED: usize = 1000;

/// `PUT /v1/products/{product_id}/photo-order`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoOrder {
    /// The product's photos to show first, in this order (the gallery shows those that are
    /// ready; its first is the primary photo). Its other photos follow, newest first.
    #[schema(min_items = 1, max_items = 1000)]
    pub photo_ids: Vec<Uuid>,
}

/// The answer of a reorder.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductVersion {
    pub product_id: String,
    /// How many reorders of the product's gallery are stored.
    pub version: u64,
}

/// Set the order of a product's gallery.
#[utoipa::path(
    tag = "products",
    security(("bearer" = [])),
    params(("product_id", description = "The product's id")),
    request_body = PhotoOrder,
    responses(
        (status = OK, body = ProductVersion),
        (status = 400, description = "JSON that cannot be read", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The product is another seller's, or busy", body = Problem, content_type = "application/problem+json"),
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
    let count = body.photo_ids.len();
    if !(1..=MAX_ORDERED).contains(&count) {
        return Err(Problem::invalid(vec![FieldError::new(
            "photo_ids",
            format!("must list 1 to {MAX_ORDERED} photos"),
        )]));
    }
    let version = state
        .store
        .reorder(&seller.0, &product_id, &body.photo_ids, &cause(&request))
        .await
        .map_err(command_problem)?;
    Ok(HttpResponse::Ok().json(ProductVersion {
        product_id,
        version,
    }))
}
