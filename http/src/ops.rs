//! What operators and load balancers call: `/healthz` (each service adds its own `/readyz`),
//! and the middleware that times every request and returns its id. The metrics themselves are
//! served on the process's own port (`CATALOG_METRICS_ADDR`), which the load balancer never
//! routes to: the API's port has no `/metrics`.

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, get, web};

use crate::problem::{Code, Problem};
use tracing_actix_web::RequestId;
use utoipa_actix_web::service_config::ServiceConfig;

/// `{"status": ...}`, the answer of the health checks.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(
    operation_id = "getHealth",tag = "operations", responses((status = OK, description = "The process is up", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Registers `/healthz`.
pub fn routes(config: &mut ServiceConfig) {
    config.service(healthz);
}

/// The id of this request (as logged and returned in `x-request-id`), to store with what
/// the request causes.
pub fn correlation_id(request: &actix_web::HttpRequest) -> String {
    request
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// How long a request may take, its body included, so that a client sending slowly (or not at
/// all) cannot hold a worker: a request that streams a file (multipart) gets longer.
#[derive(Debug, Clone, clap::Args)]
pub struct Timeouts {
    /// Seconds a request may take.
    #[arg(
        long = "request-timeout-secs",
        env = "CATALOG_REQUEST_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub request_secs: u64,
    /// Seconds a multipart upload may take.
    #[arg(
        long = "upload-timeout-secs",
        env = "CATALOG_UPLOAD_TIMEOUT_SECS",
        default_value_t = 600
    )]
    pub upload_secs: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            request_secs: 30,
            upload_secs: 600,
        }
    }
}

/// Middleware: answers `408` problem+json when a request outlasts its [`Timeouts`] (as an
/// error, which actix answers with the problem).
pub async fn deadline(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let timeouts = request
        .app_data::<web::Data<Timeouts>>()
        .map(|timeouts| timeouts.get_ref().clone())
        .unwrap_or_default();
    let streams_a_file = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("multipart/"));
    let seconds = if streams_a_file {
        timeouts.upload_secs
    } else {
        timeouts.request_secs
    };
    match tokio::time::timeout(Duration::from_secs(seconds.max(1)), next.call(request)).await {
        Ok(response) => response,
        Err(_) => Err(Problem::new(
            Code::RequestTimeout,
            format!("the request took longer than {seconds} s"),
        )
        .into()),
    }
}

/// Times each request by method, route template and status class
/// (`http_request_duration_seconds`), and answers with `x-request-id`.
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string);
    let mut response = next.call(request).await?;
    let status_class = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::histogram!("http_request_duration_seconds",
        "method" => method, "route" => route, "status_class" => status_class)
    .record(started.elapsed().as_secs_f64());
    if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(response)
}

/// A label per method the APIs know; anything else is one label, so that made-up methods
/// cannot grow the series without bound.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::Method;

    use super::method_label;

    #[test]
    fn made_up_methods_share_one_label() {
        for method in ["FROBNICATE", "XYZZY-1", "get"] {
            let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
            assert_eq!(method_label(&method), "other", "{method}");
        }
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }
}
