//! What operators and load balancers call: `/healthz` and `/metrics` (each service adds its
//! own `/readyz`), and the middleware that counts and times every request and returns its id.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, get, web};

use crate::problem::{Code, Problem};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_actix_web::RequestId;
use utoipa_actix_web::service_config::ServiceConfig;

/// The process's metrics registry (one per process, however many servers it runs).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// `{"status": ...}`, the answer of the health checks.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = OK, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Prometheus metrics: requests by method, route and status, and their durations.
#[utoipa::path(
    tag = "operations",
    operation_id = "metrics",
    responses((status = OK, content_type = "text/plain", body = String))
)]
#[get("/metrics")]
pub async fn prometheus() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics_handle().render())
}

/// Registers `/healthz` and `/metrics`.
pub fn routes(config: &mut ServiceConfig) {
    config.service(healthz).service(prometheus);
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

/// Counts and times each request by route and status, and answers with `x-request-id`.
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    // A label per method the APIs know; anything else is one label, so that made-up methods
    // cannot grow the series without bound.
    let method = match request.method().as_str() {
        known @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => known,
        _ => "other",
    }
    .to_owned();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string);
    let mut response = next.call(request).await?;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(response)
}
