//! The write side's settings, read once at start from `CATALOG_*` variables (or flags).
//!
//! AWS settings are the SDK's own (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials); the JWT
//! secret is held in a `SecretString` so it never reaches a log.

use catalog_http::auth::AuthConfig;

pub use crate::database::DatabaseConfig;
use crate::webhooks::CallbackPolicy;

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
    pub originals: OriginalsConfig,
    /// Largest original accepted, declared or streamed, in bytes.
    #[arg(long, env = "CATALOG_MAX_UPLOAD_BYTES", default_value_t = 25 * 1024 * 1024)]
    pub max_upload_bytes: u64,
    /// How long a presigned upload URL stays valid, in seconds.
    #[arg(long, env = "CATALOG_PRESIGN_TTL_SECS", default_value_t = 900)]
    pub presign_ttl_secs: u64,
    /// Which `callback_url`s are accepted.
    #[command(flatten)]
    pub callbacks: CallbackPolicy,
}

/// How the originals bucket is reached (its name comes from `resources.json`).
#[derive(Debug, Clone, clap::Args)]
pub struct OriginalsConfig {
    /// Address buckets by path (`endpoint/bucket/key`), as local S3 stand-ins need.
    #[arg(
        long = "s3-path-style",
        env = "CATALOG_S3_PATH_STYLE",
        default_value_t = false
    )]
    pub path_style: bool,
}
