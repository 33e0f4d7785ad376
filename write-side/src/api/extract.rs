//! What handlers take from a request besides its body: the authenticated seller, the photo
//! id of the path, and the correlation id that goes with every event the request causes.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use tracing_actix_web::RequestId;
use uuid::Uuid;

use super::AppState;
use super::problem::Problem;

/// The seller a valid bearer token names.
#[derive(Debug, Clone)]
pub struct Seller(pub String);

impl FromRequest for Seller {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(seller(request))
    }
}

fn seller(request: &HttpRequest) -> Result<Seller, Problem> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| Problem::internal(&"the application state is missing"))?;
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Problem::unauthorized("an Authorization: Bearer token is required"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Problem::unauthorized("the Authorization header must be 'Bearer <token>'")
        })?;
    Ok(Seller(state.auth.verify(token.trim())?))
}

/// The photo id in the path. An id that is not a UUID names no photo: `404`.
pub fn photo_id(path: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(path).map_err(|_| Problem::not_found())
}

/// The id of this request (as logged), stored with the events it causes.
pub fn correlation_id(request: &HttpRequest) -> String {
    request
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string)
        .unwrap_or_else(|| Uuid::now_v7().to_string())
}
