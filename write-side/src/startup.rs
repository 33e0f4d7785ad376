//! Builds the write side from its settings. `catalog write-api` and the tests both call
//! [`build`], so what is tested is what runs.

use std::time::Duration;

use catalog_events::resources::Resources;
use catalog_http::rate_limit::Limiter;
use catalog_http::service::{Access, Service};

use crate::api::{self, AppState, idempotency, upload};
use crate::config::WriteApiConfig;
use catalog_event_store::aggregate::PhotoServices;
use catalog_event_store::originals::Originals;
use catalog_event_store::store::{PhotoStore, outbox};
use catalog_event_store::webhook_secrets::Sealer;

/// How often the write API deletes idempotency keys past their retention.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Connects to Postgres (migrating it) and S3, binds the write API's listener, and starts
/// the hourly purge of expired idempotency keys and the watch on the outbox's backlog.
pub async fn build(config: WriteApiConfig, resources: &Resources) -> anyhow::Result<Service> {
    let pool = config.database.connect().await?;
    let purging = pool.clone();
    tokio::spawn(async move {
        while !purging.is_closed() {
            match idempotency::purge(&purging).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "expired idempotency keys deleted"),
                Err(error) => tracing::warn!(%error, "could not purge expired idempotency keys"),
            }
            tokio::time::sleep(PURGE_EVERY).await;
        }
    });
    tokio::spawn(outbox::watch(pool.clone()));
    let state = AppState {
        store: PhotoStore::new(pool, PhotoServices::default()),
        originals: Originals::from_env(&resources.buckets, &config.s3)
            .await
            .map_err(|error| anyhow::anyhow!("S3: {error}"))?,
        max_upload_bytes: config.upload_limit.max_upload_bytes,
        uploads: upload::Admission::new(&config.uploads),
        upload_pace: upload::Pace {
            min_bytes_per_sec: config.uploads.upload_min_bytes_per_sec,
            window: Duration::from_secs(config.uploads.upload_rate_window_secs),
        },
        presign_ttl: Duration::from_secs(config.presign_ttl_secs),
        reprocessing: Limiter::hourly(
            "reprocess",
            config.limits.reprocess_burst,
            config.limits.reprocess_per_hour,
        ),
        callbacks: config.callbacks,
        sealer: Sealer::from_config(&config.webhook_key).await?,
        variants_base_url: config.variants.variants_base_url,
    };
    let access = Access {
        auth: &config.auth,
        cors: &config.cors,
        limits: &config.limits,
        timeouts: &config.timeouts,
        server: &config.server,
    };
    Service::bind(&config.listen, access, state, api::API)
}
