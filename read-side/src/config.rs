//! The read side's settings, read once at start from `CATALOG_*` variables (or flags).

use catalog_http::auth::AuthConfig;
use catalog_http::cors::CorsConfig;
use catalog_http::openapi::ServerConfig;
use catalog_http::ops::Timeouts;
use catalog_http::rate_limit::RateLimitConfig;
use catalog_runtime::settings::VariantsUrl;

/// Settings of `catalog read-api`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReadApiConfig {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "CATALOG_READ_ADDR", default_value = "127.0.0.1:8081")]
    pub listen: String,
    #[command(flatten)]
    pub auth: AuthConfig,
    #[command(flatten)]
    pub cors: CorsConfig,
    #[command(flatten)]
    pub limits: RateLimitConfig,
    #[command(flatten)]
    pub timeouts: Timeouts,
    #[command(flatten)]
    pub server: ServerConfig,
    /// Where variant keys are served from.
    #[command(flatten)]
    pub variants: VariantsUrl,
    /// How long `min_version` may wait for the read model, in milliseconds.
    #[arg(long, env = "CATALOG_CONSISTENCY_WAIT_MS", default_value_t = 3000)]
    pub consistency_wait_ms: u64,
}
