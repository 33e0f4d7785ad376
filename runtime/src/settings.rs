//! Settings that more than one process reads, each declared once (a flag and a `CATALOG_`
//! variable of the same meaning everywhere).

/// The largest original the service takes: the write API refuses larger uploads, and the
/// image processor refuses to download larger objects.
#[derive(Debug, Clone, clap::Args)]
pub struct UploadLimit {
    /// Largest original accepted, declared or streamed, in bytes.
    #[arg(long = "max-upload-bytes", env = "CATALOG_MAX_UPLOAD_BYTES", default_value_t = 25 * 1024 * 1024)]
    pub max_upload_bytes: u64,
}

/// Where variants are served from: the CDN in AWS, the bucket locally. The read API and the
/// webhooks show photos with their variants' URLs under it.
#[derive(Debug, Clone, clap::Args)]
pub struct VariantsUrl {
    /// Base URL that variant keys are appended to.
    #[arg(
        long = "variants-base-url",
        env = "CATALOG_VARIANTS_BASE_URL",
        default_value = "http://127.0.0.1:4566/catalog-variants"
    )]
    pub variants_base_url: String,
}
