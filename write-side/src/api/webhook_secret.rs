//! `POST /v1/webhook-secret`: a seller's own webhook signing secret, answered once. Asking
//! again rotates it (see [`catalog_event_store::webhook_secrets`]). A retry with the same `Idempotency-Key`
//! answers the same secret: what the key keeps is sealed like the secret itself.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use catalog_http::Problem;
use catalog_http::auth::Seller;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::AppState;
use super::idempotency::{self, Answer, IdempotencyKey};
use catalog_event_store::webhook_secrets;

/// A seller's webhook signing secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSecret {
    /// `whsec_` and base64 bytes, as the Standard Webhooks libraries take it. Shown once.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// The seller's webhook signing secret; calling again rotates it (the previous one keeps
/// signing beside the new one for 24 hours).
#[utoipa::path(
    operation_id = "createWebhookSecret",
    tag = "webhooks",
    security(("bearer" = [])),
    params(IdempotencyKey),
    responses(
        (status = CREATED, description = "The seller's new signing secret (the previous one signs beside it for 24 hours)", body = WebhookSecret),
        (status = 409, description = "A request with this Idempotency-Key is in progress", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
        (status = 422, description = "The Idempotency-Key was used with another request", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/webhook-secret")]
pub async fn rotate(
    state: web::Data<AppState>,
    request: HttpRequest,
    seller: Seller,
) -> Result<HttpResponse, Problem> {
    let pool = state.store.pool();
    let answer = idempotency::answer(pool, &request, &seller.0, &(), async {
        let secret = webhook_secrets::generate().map_err(|error| Problem::internal(&error))?;
        webhook_secrets::store(pool, &state.sealer, &seller.0, &secret)
            .await
            .map_err(|error| super::database_problem(&error))?;
        let sealed = state
            .sealer
            .seal(&seller.0, &secret)
            .map_err(|error| Problem::internal(&error))?;
        Ok(Answer::new(
            StatusCode::CREATED,
            json!({ "sealed": BASE64.encode(sealed) }),
        ))
    })
    .await?;
    let Some(sealed) = answer.body["sealed"].as_str() else {
        // A refusal kept for this key.
        return Ok(answer.response());
    };
    let sealed = BASE64
        .decode(sealed)
        .map_err(|error| Problem::internal(&error))?;
    let secret = state
        .sealer
        .open(&seller.0, &sealed)
        .map_err(|error| Problem::internal(&error))?;
    Ok(HttpResponse::Created().json(WebhookSecret {
        secret: secret.expose_secret().to_owned(),
    }))
}
