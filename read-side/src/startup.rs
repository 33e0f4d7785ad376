//! Builds the read API from its settings. `catalog read-api` and the tests both call
//! [`build`].

use std::time::Duration;

use catalog_events::resources::Resources;
use catalog_http::service::{Access, Service};

use crate::api::{self, ReadState};
use crate::config::ReadApiConfig;

/// The read API on its port, not yet serving.
pub async fn build(config: ReadApiConfig, resources: &Resources) -> anyhow::Result<Service> {
    let sdk = catalog_runtime::aws::sdk().await;
    let state = ReadState {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        table: resources.table.name.clone(),
        variants_base_url: config.variants.variants_base_url,
        consistency_wait: Duration::from_millis(config.consistency_wait_ms),
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
