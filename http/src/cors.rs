//! CORS: browsers on the origins in `CATALOG_CORS_ORIGINS` (the seller page's, first of all)
//! may call the API. Preflights are answered for them; every other origin gets no CORS
//! headers, so its browser keeps the answer from the page. The headers a page needs to read
//! are exposed: `ETag` (conditional reads), `Retry-After` (when to try again), `Location` and
//! `x-request-id` (to quote to support), and the rate-limit headers.

use actix_cors::Cors;
use actix_web::http::{Method, header};

/// Which origins may call from a browser.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CorsConfig {
    /// Origins (scheme, host and port, comma-separated) whose pages may call the API.
    #[arg(
        long = "cors-origins",
        env = "CATALOG_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
}

/// How long a browser may keep a preflight's answer, in seconds.
const PREFLIGHT_MAX_AGE: usize = 600;

impl CorsConfig {
    /// The middleware for these origins.
    pub fn middleware(&self) -> Cors {
        let mut cors = Cors::default()
            .allowed_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allowed_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_NONE_MATCH,
                header::IF_MATCH,
                header::HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([
                header::ETAG,
                header::RETRY_AFTER,
                header::LOCATION,
                header::HeaderName::from_static("x-request-id"),
                header::HeaderName::from_static("ratelimit"),
                header::HeaderName::from_static("ratelimit-policy"),
            ])
            .max_age(PREFLIGHT_MAX_AGE);
        for origin in self
            .cors_origins
            .iter()
            .map(|origin| origin.trim().trim_end_matches('/'))
            .filter(|origin| !origin.is_empty())
        {
            cors = cors.allowed_origin(origin);
        }
        cors
    }
}
