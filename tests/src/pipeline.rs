//! A whole pipeline of one's own on the local stack: AWS resources under a prefix of the
//! test's, the write API, the read API, and the relay, image processor, notifier and projector, either
//! in this process or as `catalog` processes that a test may kill.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use catalog_callback_guard::CallbackPolicy;
use catalog_event_store::aggregate::PhotoServices;
use catalog_event_store::store::read::{self, Photos, Start};
use catalog_event_store::store::{self, PhotoStore};
use catalog_events::resources::QueueRole;
use catalog_events::resources::Resources;
use catalog_events::{EventEnvelope, PhotoEvent, PhotoStatus, Variant, VariantName};
use catalog_http::auth::AuthConfig;
use catalog_http::ops::Timeouts;
use catalog_http::rate_limit::RateLimitConfig;
use catalog_image_processor::{Processor, ProcessorConfig};
use catalog_notifier::{Notifier, NotifierConfig};
use catalog_projections::projector::{Projector, ProjectorConfig};
use catalog_read_model::PHOTO_ID;
use catalog_read_side::config::ReadApiConfig;
use catalog_relay::{Relay, RelayConfig};
use catalog_runtime::aws::S3Settings;
use catalog_runtime::queue::Polling;
use catalog_runtime::settings::{UploadLimit, VariantsUrl};
use futures_util::TryStreamExt;
use image::GenericImageView;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{WriteApi, eventually, jpeg};

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
        catalog_local_stack::create(&sdk, &resources).await?;
        Ok(Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            prefix,
            resources,
            sdk,
        })
    }

    /// Where the local stack serves the variants bucket's objects (anonymously).
    pub fn variants_base_url(&self) -> anyhow::Result<String> {
        Ok(format!(
            "{}/{}",
            crate::stack_env("AWS_ENDPOINT_URL")?.trim_end_matches('/'),
            self.resources.buckets.variants
        ))
    }

    /// Puts `envelope` on the queue of `role` as EventBridge would deliver it (a redelivery).
    pub async fn redeliver(&self, role: QueueRole, envelope: &EventEnvelope) -> anyhow::Result<()> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let body = serde_json::json!({"detail-type": envelope.event_type, "detail": envelope});
        sqs.send_message()
            .queue_url(self.queue_url(role, false).await?)
            .message_body(body.to_string())
            .send()
            .await?;
        Ok(())
    }

    /// Messages on the queue of `role`, visible or in flight.
    pub async fn queued(&self, role: QueueRole) -> anyhow::Result<u64> {
        self.count(self.queue_url(role, false).await?).await
    }

    async fn count(&self, queue_url: String) -> anyhow::Result<u64> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await?
            .attributes
            .unwrap_or_default();
        Ok(attributes
            .values()
            .filter_map(|count| count.parse::<u64>().ok())
            .sum())
    }

    /// Messages on the dead-letter queue of `role`, visible or in flight.
    pub async fn dead_letters(&self, role: QueueRole) -> anyhow::Result<u64> {
        self.count(self.queue_url(role, true).await?).await
    }

    /// The URL of the queue of `role`, or of its dead-letter queue.
    pub async fn queue_url(&self, role: QueueRole, dead_letters: bool) -> anyhow::Result<String> {
        let queue = self
            .resources
            .queue(role)
            .ok_or_else(|| anyhow::anyhow!("no {role:?} queue"))?;
        let name = if dead_letters {
            &queue.dead_letter_queue
        } else {
            &queue.name
        };
        aws_sdk_sqs::Client::new(&self.sdk)
            .get_queue_url()
            .queue_name(name)
            .send()
            .await?
            .queue_url
            .ok_or_else(|| anyhow::anyhow!("no URL for {name}"))
    }

    /// The read-model item of a photo, if there is one, without when it was written (which
    /// is not part of the photo: `catalog_read_model::PROJECTED_AT`).
    pub async fn item(&self, photo_id: Uuid) -> anyhow::Result<Option<catalog_read_model::Item>> {
        let mut item = self
            .dynamodb
            .get_item()
            .table_name(&self.resources.table.name)
            .key(PHOTO_ID, AttributeValue::S(photo_id.to_string()))
            .consistent_read(true)
            .send()
            .await?
            .item;
        if let Some(item) = &mut item {
            item.remove(catalog_read_model::PROJECTED_AT);
        }
        Ok(item)
    }

    /// How many versions of `key` (delete markers included) the versioned originals bucket
    /// keeps: 0 once nothing of it is left.
    pub async fn original_versions(&self, key: &str) -> anyhow::Result<usize> {
        let s3 = S3Settings { path_style: true }.client(&self.sdk);
        let listed = s3
            .list_object_versions()
            .bucket(&self.resources.buckets.originals)
            .prefix(key)
            .send()
            .await?;
        let versions = listed.versions().iter().map(|v| v.key());
        let markers = listed.delete_markers().iter().map(|m| m.key());
        Ok(versions
            .chain(markers)
            .filter(|of| *of == Some(key))
            .count())
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
                    (found.get(PHOTO_ID), catalog_read_model::version(&found))
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

    /// Starts every part on a stack of its own, with rate limits too high to be met.
    pub async fn start_unlimited() -> anyhow::Result<Self> {
        let unlimited = RateLimitConfig {
            seller_burst: u32::MAX,
            seller_per_sec: u32::MAX,
            address_burst: u32::MAX,
            address_per_sec: u32::MAX,
            reader_burst: u32::MAX,
            reader_per_sec: u32::MAX,
            wait_burst: u32::MAX,
            wait_per_sec: u32::MAX,
            reprocess_burst: u32::MAX,
            reprocess_per_hour: u32::MAX,
            client_ip_header: None,
        };
        Self::start_tuned(
            Stack::create().await?,
            notifier_config(),
            processor_config(),
            unlimited,
        )
        .await
    }

    /// Starts every part on `stack`.
    pub async fn start_on(stack: Stack) -> anyhow::Result<Self> {
        Self::start_with(stack, notifier_config()).await
    }

    /// Starts every part on `stack`, the notifier with `notifier`.
    pub async fn start_with(stack: Stack, notifier: NotifierConfig) -> anyhow::Result<Self> {
        Self::start_tuned(
            stack,
            notifier,
            processor_config(),
            RateLimitConfig::default(),
        )
        .await
    }

    /// Starts every part on `stack`, the notifier with `notifier`, the image processor with
    /// `processor`, and both APIs with `limits`.
    pub async fn start_tuned(
        stack: Stack,
        notifier: NotifierConfig,
        processor: ProcessorConfig,
        limits: RateLimitConfig,
    ) -> anyhow::Result<Self> {
        let write_limits = limits.clone();
        let write = WriteApi::spawn_on(&stack.resources, |config| {
            config.callbacks = loopback_callbacks();
            config.limits = write_limits;
        })
        .await?;
        let read = catalog_read_side::startup::build(
            ReadApiConfig {
                listen: "127.0.0.1:0".into(),
                auth: AuthConfig {
                    jwt_secret: Some(write.secret().clone()),
                    ..AuthConfig::default()
                },
                cors: crate::page_cors(),
                limits,
                timeouts: Timeouts::default(),
                server: Default::default(),
                variants: VariantsUrl {
                    variants_base_url: stack.variants_base_url()?,
                },
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
        let processor =
            Processor::new(&stack.sdk, &stack.resources, Arc::clone(&store), &processor).await?;
        tokio::spawn(Arc::new(processor).run(workers.clone()));
        let notifier =
            Notifier::new(&stack.sdk, &stack.resources, Arc::clone(&store), &notifier).await?;
        tokio::spawn(Arc::new(notifier).run(workers.clone()));
        let projector =
            Arc::new(Projector::new(&stack.sdk, &stack.resources, &projector_config()).await?);
        let running = Arc::clone(&projector);
        let stop = workers.clone();
        tokio::spawn(running.run(stop));
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

    /// Uploads a small JPEG through the multipart API, with `callback_url` if given; returns
    /// the photo's id.
    pub async fn upload(
        &self,
        seller: &str,
        product: &str,
        callback_url: Option<&str>,
    ) -> anyhow::Result<Uuid> {
        self.upload_file(seller, product, callback_url, jpeg(16, 12))
            .await
    }

    /// [`Pipeline::upload`] of these bytes.
    pub async fn upload_file(
        &self,
        seller: &str,
        product: &str,
        callback_url: Option<&str>,
        bytes: Vec<u8>,
    ) -> anyhow::Result<Uuid> {
        self.write
            .upload_file(seller, product, callback_url, bytes)
            .await
    }

    /// A ready photo of `seller` as a processor from before later formats and placeholders
    /// left it: `original` in the bucket, its render (variants of the original's size, whose
    /// files are not stored) settling no format. Its events are stored at once, as they were
    /// then, so nothing renders it meanwhile.
    pub async fn legacy_photo(
        &self,
        seller: &str,
        product: &str,
        original: Vec<u8>,
        ready_at: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Uuid> {
        let photo = Uuid::now_v7();
        let (width, height) = image::load_from_memory(&original)?.dimensions();
        let size = original.len() as u64;
        S3Settings { path_style: true }
            .client(&self.stack.sdk)
            .put_object()
            .bucket(&self.stack.resources.buckets.originals)
            .key(format!("originals/{photo}"))
            .body(original.into())
            .send()
            .await?;
        let mut requested = crate::upload_request(photo, seller, product);
        requested.occurred_at = ready_at;
        requested.size_bytes = size;
        let variants = VariantName::ALL
            .into_iter()
            .map(|name| {
                let scale = f64::from(name.max_side()) / f64::from(width.max(height));
                let fit = |side: u32| ((f64::from(side) * scale.min(1.0)).round() as u32).max(1);
                let variant = Variant {
                    key: format!("variants/{photo}/1-legacy/{name}.jpg"),
                    width: fit(width),
                    height: fit(height),
                    bytes: 10_000,
                    content_type: "image/jpeg".into(),
                    formats: Default::default(),
                };
                (name, variant)
            })
            .collect();
        let events = [
            PhotoEvent::PhotoUploadRequested(requested),
            PhotoEvent::PhotoUploaded {
                occurred_at: ready_at,
                size_bytes: size,
            },
            PhotoEvent::PhotoProcessingStarted {
                occurred_at: ready_at,
                attempt: 1,
            },
            PhotoEvent::PhotoProcessed {
                occurred_at: ready_at,
                width,
                height,
                variants,
                placeholder: None,
                formats_tried: Vec::new(),
            },
        ];
        let mut transaction = self.store.pool().begin().await?;
        for (sequence, event) in (1_i64..).zip(&events) {
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                 event_version, payload, metadata) VALUES ('Photo', $1, $2, $3, $4, $5, '{}')",
            )
            .bind(photo.to_string())
            .bind(sequence)
            .bind(event.event_type())
            .bind(event.event_version())
            .bind(serde_json::to_value(event)?)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(photo)
    }

    /// The envelope the relay published for the photo's event at `sequence`.
    pub async fn envelope(&self, photo: Uuid, sequence: u64) -> anyhow::Result<EventEnvelope> {
        let starts = [Start::first(photo.to_string())];
        let mut events = std::pin::pin!(read::events(self.store.pool(), Photos::These(&starts)));
        while let Some(folded) = events.try_next().await? {
            if folded.sequence == sequence {
                return Ok(EventEnvelope::new(
                    photo,
                    sequence,
                    folded.event,
                    None,
                    folded.traceparent,
                    folded.after,
                ));
            }
        }
        anyhow::bail!("photo {photo} has no event {sequence}")
    }

    /// The photo's state in the event store; an error if there is no such photo.
    async fn state(&self, photo: Uuid) -> anyhow::Result<catalog_events::PhotoState> {
        self.store
            .load(photo)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no photo {photo}"))
    }

    /// Waits until the photo is ready; returns the version it became ready at (its
    /// `PhotoProcessed`), whatever followed since (its AVIF, say).
    pub async fn ready(&self, photo: Uuid) -> anyhow::Result<u64> {
        eventually(Duration::from_secs(60), || async {
            let state = self.state(photo).await?;
            anyhow::ensure!(
                state.status != PhotoStatus::Failed,
                "the photo failed: {:?}",
                state.failure_reason
            );
            if state.status != PhotoStatus::Ready {
                return Ok(None);
            }
            let history = self
                .store
                .history(photo, 0, 1000)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no history of {photo}"))?;
            Ok(history
                .events
                .iter()
                .rev()
                .find(|stored| matches!(stored.event, PhotoEvent::PhotoProcessed { .. }))
                .map(|stored| stored.sequence))
        })
        .await
    }

    /// Waits until the photo is ready and its AVIF settled (made after ready, in one event,
    /// with the variants where it is lighter), so that nothing more changes it; returns its
    /// version then.
    pub async fn settled(&self, photo: Uuid) -> anyhow::Result<u64> {
        self.ready(photo).await?;
        eventually(Duration::from_secs(60), || async {
            let state = self.state(photo).await?;
            let settled = state.status == PhotoStatus::Ready && !state.lacks(catalog_events::AVIF);
            Ok(settled.then_some(state.version))
        })
        .await
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
        in_flight: 2,
        idle_poll_secs: 1,
    }
}

pub fn processor_config() -> ProcessorConfig {
    ProcessorConfig {
        max_pixels: 50_000_000,
        upload_limit: UploadLimit {
            max_upload_bytes: 25 * 1024 * 1024,
        },
        jobs: Some(2),
        memory_mib: 512,
        job_deadline: Duration::from_secs(60),
        polling: Polling { wait_secs: 1 },
        s3: S3Settings { path_style: true },
        cdn_distribution_id: None,
        // This test binary has no `decode-sandbox`: the built `catalog` decodes.
        decoder: catalog_binary().ok(),
    }
}

/// What the local stack allows: `http` callbacks on loopback, on any port.
pub fn loopback_callbacks() -> CallbackPolicy {
    CallbackPolicy {
        allowed_networks: ["127.0.0.0/8", "::1/128"]
            .iter()
            .filter_map(|net| net.parse().ok())
            .collect(),
        allow_http: true,
        allowed_ports: "1-65535".parse().into_iter().collect(),
    }
}

/// A notifier for tests: loopback allowed, one-second timeout and first retry, and giving up
/// after a minute.
pub fn notifier_config() -> NotifierConfig {
    NotifierConfig {
        webhook_key: crate::webhook_key(),
        timeout_secs: 1,
        retry_base_secs: 1,
        give_up_after_secs: 60,
        jobs: 8,
        polling: Polling { wait_secs: 1 },
        variants: VariantsUrl {
            variants_base_url: "https://cdn.example/v".into(),
        },
        policy: loopback_callbacks(),
    }
}

pub fn projector_config() -> ProjectorConfig {
    ProjectorConfig {
        receivers: 2,
        polling: Polling { wait_secs: 1 },
    }
}

/// A `catalog` subcommand running as a process of its own (killed when dropped).
pub struct Process(Child);

impl Process {
    /// Starts `catalog <args>` against `stack` and the event store at `database_url`.
    pub fn start(stack: &Stack, database_url: &str, args: &[&str]) -> anyhow::Result<Self> {
        Self::start_with(stack, database_url, args, &[])
    }

    /// [`Process::start`] with these variables set too.
    pub fn start_with(
        stack: &Stack,
        database_url: &str,
        args: &[&str],
        variables: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::start_logging(stack, database_url, args, variables, Stdio::inherit())
    }

    /// [`Process::start_with`], its logs (stderr) going to `logs`; `variables` win over the
    /// defaults (`RUST_LOG=warn`, say).
    pub fn start_logging(
        stack: &Stack,
        database_url: &str,
        args: &[&str],
        variables: &[(&str, &str)],
        logs: Stdio,
    ) -> anyhow::Result<Self> {
        let child = Command::new(catalog_binary()?)
            .args(args)
            .env("CATALOG_RESOURCE_PREFIX", &stack.prefix)
            .env("CATALOG_DATABASE_URL", database_url)
            .env("CATALOG_DATABASE_MAX_CONNECTIONS", "4")
            .env("CATALOG_SQS_WAIT_SECS", "1")
            .env("CATALOG_RELAY_BATCH", "10")
            .env("CATALOG_RELAY_IDLE_POLL_SECS", "1")
            .env("RUST_LOG", "warn")
            .envs(variables.iter().copied())
            .stdout(Stdio::null())
            .stderr(logs)
            .spawn()?;
        Ok(Self(child))
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Whether it has ended (on its own: a crash, or giving up).
    pub fn ended(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(Some(_)))
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

/// Runs `catalog <args>` against `stack` and the event store at `database_url` to its end.
pub fn run_catalog(
    stack: &Stack,
    database_url: &str,
    args: &[&str],
) -> anyhow::Result<std::process::Output> {
    Ok(Command::new(catalog_binary()?)
        .args(args)
        .env("CATALOG_RESOURCE_PREFIX", &stack.prefix)
        .env("CATALOG_DATABASE_URL", database_url)
        .output()?)
}

/// The `catalog` binary of this build (cargo builds it beside the test binaries).
pub fn catalog_binary() -> anyhow::Result<std::path::PathBuf> {
    // Beside this executable (a binary of the build), or one folder up (a test, in `deps/`).
    let this = std::env::current_exe()?;
    let beside = this
        .parent()
        .ok_or_else(|| anyhow::anyhow!("no folder above {}", this.display()))?;
    let binary = [beside, beside.parent().unwrap_or(beside)]
        .iter()
        .map(|folder| folder.join("catalog"))
        .find(|binary| binary.exists())
        .unwrap_or_else(|| beside.join("catalog"));
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
