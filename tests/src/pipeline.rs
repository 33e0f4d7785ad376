//! A whole pipeline of one's own on the local stack: AWS resources under a prefix of the
//! test's, the write API, the read API, and the relay, image processor and projector, either
//! in this process or as `catalog` processes that a test may kill.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use catalog_events::read_model::PHOTO_ID;
use catalog_events::resources::Resources;
use catalog_http::auth::AuthConfig;
use catalog_projections::item;
use catalog_projections::projector::{Projector, ProjectorConfig};
use catalog_read_side::config::ReadApiConfig;
use catalog_write_side::aggregate::PhotoServices;
use catalog_write_side::images::worker::{Processor, ProcessorConfig};
use catalog_write_side::relay::{Relay, RelayConfig};
use catalog_write_side::store::{self, PhotoStore};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{WriteApi, eventually};

/// Resources of one test, created in the local stack under a prefix of its own.
pub struct Stack {
    /// What every name of `resources` starts with (a `catalog` process takes it as
    /// `CATALOG_RESOURCE_PREFIX`).
    pub prefix: String,
    pub resources: Resources,
    pub sdk: aws_config::SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Stack {
    pub async fn create() -> anyhow::Result<Self> {
        Self::create_with(|_| {}).await
    }

    /// Creates the resources after `adjust` changed them (say, a queue's timeouts).
    pub async fn create_with(adjust: impl FnOnce(&mut Resources)) -> anyhow::Result<Self> {
        crate::stack_env("AWS_ENDPOINT_URL")?;
        let prefix = crate::resource_prefix();
        let mut resources = Resources::standard()?.prefixed(&prefix);
        adjust(&mut resources);
        let sdk = aws_config::load_from_env().await;
        catalog_projections::local_stack::create(&sdk, &resources).await?;
        Ok(Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            prefix,
            resources,
            sdk,
        })
    }

    /// The read-model item of a photo, if there is one.
    pub async fn item(&self, photo_id: Uuid) -> anyhow::Result<Option<item::Item>> {
        Ok(self
            .dynamodb
            .get_item()
            .table_name(&self.resources.table.name)
            .key(PHOTO_ID, AttributeValue::S(photo_id.to_string()))
            .consistent_read(true)
            .send()
            .await?
            .item)
    }

    /// Every item's photo id and version.
    pub async fn versions(&self) -> anyhow::Result<Vec<(String, u64)>> {
        let mut versions = Vec::new();
        let mut pages = self
            .dynamodb
            .scan()
            .table_name(&self.resources.table.name)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for found in page?.items.unwrap_or_default() {
                if let (Some(AttributeValue::S(id)), Some(version)) =
                    (found.get(PHOTO_ID), item::version(&found))
                {
                    versions.push((id.clone(), version));
                }
            }
        }
        versions.sort();
        Ok(versions)
    }
}

/// The write API, the read API, a relay, an image processor and a projector on one stack.
pub struct Pipeline {
    pub stack: Stack,
    pub write: WriteApi,
    pub read_url: String,
    /// The write side's event store, for commands the image processor would send.
    pub store: Arc<PhotoStore>,
    pub projector: Arc<Projector>,
    workers: CancellationToken,
}

impl Pipeline {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on(Stack::create().await?).await
    }

    /// Starts every part on `stack`.
    pub async fn start_on(stack: Stack) -> anyhow::Result<Self> {
        let write = WriteApi::spawn_on(&stack.resources, |_| {}).await?;
        let read = catalog_read_side::startup::build(
            ReadApiConfig {
                listen: "127.0.0.1:0".into(),
                auth: AuthConfig {
                    jwt_secret: Some(write.secret().clone()),
                },
                variants_base_url: "https://cdn.example/v".into(),
                consistency_wait_ms: 5_000,
            },
            &stack.resources,
        )
        .await?;
        let read_url = format!("http://127.0.0.1:{}", read.port());
        tokio::spawn(read.run_until_stopped());
        let workers = CancellationToken::new();
        let pool = store::connect(&write.database_url, 4).await?;
        let relay = Relay::new(pool.clone(), &stack.sdk, &stack.resources, relay_config());
        let stop = workers.clone();
        tokio::spawn(async move { relay.run(stop).await });
        let store = Arc::new(PhotoStore::new(pool.clone(), PhotoServices::default()));
        let processor = Processor::new(
            &stack.sdk,
            &stack.resources,
            Arc::clone(&store),
            &processor_config(),
        )
        .await?;
        tokio::spawn(Arc::new(processor).run(workers.clone()));
        let projector =
            Arc::new(Projector::new(&stack.sdk, &stack.resources, &projector_config()).await?);
        let running = Arc::clone(&projector);
        let stop = workers.clone();
        tokio::spawn(async move { running.run(2, stop).await });
        Ok(Self {
            store,
            stack,
            write,
            read_url,
            projector,
            workers,
        })
    }

    pub fn read(&self, path: &str) -> String {
        format!("{}{path}", self.read_url)
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.workers.cancel();
    }
}

pub fn relay_config() -> RelayConfig {
    RelayConfig {
        batch: 10,
        idle_poll_secs: 1,
    }
}

pub fn processor_config() -> ProcessorConfig {
    ProcessorConfig {
        max_pixels: 50_000_000,
        max_bytes: 25 * 1024 * 1024,
        jobs: Some(2),
        memory_mib: 512,
        wait_secs: 1,
        path_style: true,
    }
}

pub fn projector_config() -> ProjectorConfig {
    ProjectorConfig {
        receivers: 2,
        wait_secs: 1,
    }
}

/// A `catalog` subcommand running as a process of its own (killed when dropped).
pub struct Process(Child);

impl Process {
    /// Starts `catalog <args>` against `stack` and the event store at `database_url`.
    pub fn start(stack: &Stack, database_url: &str, args: &[&str]) -> anyhow::Result<Self> {
        let child = Command::new(catalog_binary()?)
            .args(args)
            .env("CATALOG_RESOURCE_PREFIX", &stack.prefix)
            .env("CATALOG_DATABASE_URL", database_url)
            .env("CATALOG_DATABASE_MAX_CONNECTIONS", "4")
            .env("CATALOG_SQS_WAIT_SECS", "1")
            .env("CATALOG_RELAY_BATCH", "10")
            .env("CATALOG_RELAY_IDLE_POLL_SECS", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?;
        Ok(Self(child))
    }

    /// Kills it at once (SIGKILL): no chance to finish what it holds.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.0.kill()?;
        self.0.wait()?;
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `catalog` binary of this build (cargo builds it beside the test binaries).
fn catalog_binary() -> anyhow::Result<std::path::PathBuf> {
    let test = std::env::current_exe()?;
    let profile = test
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| anyhow::anyhow!("no target folder above {}", test.display()))?;
    let binary = profile.join("catalog");
    anyhow::ensure!(
        binary.exists(),
        "{} is not built: run the tests with `./dev test`",
        binary.display()
    );
    Ok(binary)
}

/// Waits until the read model holds `version` or later of every photo in `expected`.
pub async fn projected(
    stack: &Stack,
    expected: &[(Uuid, u64)],
    within: Duration,
) -> anyhow::Result<()> {
    eventually(within, || async {
        let versions = stack.versions().await?;
        let all = expected.iter().all(|(photo, version)| {
            versions
                .iter()
                .any(|(id, stored)| *id == photo.to_string() && stored >= version)
        });
        Ok(all.then_some(()))
    })
    .await
}
