//! The write side's settings, read once at start from `CATALOG_*` variables (or flags).
//!
//! AWS settings are the SDK's own (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials); the JWT
//! secret is held in a `SecretString` so it never reaches a log.

use catalog_callback_guard::CallbackPolicy;
use catalog_http::auth::AuthConfig;
use catalog_http::cors::CorsConfig;
use catalog_http::openapi::ServerConfig;
use catalog_http::ops::Timeouts;
use catalog_http::rate_limit::RateLimitConfig;
use catalog_runtime::aws::S3Settings;
use catalog_runtime::settings::{UploadLimit, VariantsUrl};

use crate::api::upload::UploadAdmission;

use catalog_event_store::database::DatabaseConfig;
use catalog_event_store::webhook_secrets::WebhookKeyConfig;

/// Settings of `catalog write-api`.
#[derive(Debug, Clone, clap::Args)]
pub struct WriteApiConfig {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "CATALOG_WRITE_ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
    #[command(flatten)]
    pub database: DatabaseConfig,
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
    /// How the originals bucket is reached (its name comes from `resources.json`).
    #[command(flatten)]
    pub s3: S3Settings,
    #[command(flatten)]
    pub upload_limit: UploadLimit,
    /// How many multipart uploads are let in at once, and how fast they must arrive.
    #[command(flatten)]
    pub uploads: UploadAdmission,
    /// How long a presigned upload URL stays valid, in seconds.
    #[arg(long, env = "CATALOG_PRESIGN_TTL_SECS", default_value_t = 900)]
    pub presign_ttl_secs: u64,
    /// Which `callback_url`s are accepted.
    #[command(flatten)]
    pub callbacks: CallbackPolicy,
    /// The key the sellers' webhook secrets are sealed with.
    #[command(flatten)]
    pub webhook_key: WebhookKeyConfig,
    /// Where variants are served: the photos the change feed and `as_of` show link to them.
    #[command(flatten)]
    pub variants: VariantsUrl,
}
