//! The image processor: the worker on the images queue that keeps a photo's files. It turns
//! uploads into variants, records uploads that only S3 reported, and removes a deleted photo's
//! files ([`purge`]). What the queue carries is a [`jobs::Job`].
//!
//! The pixels are `catalog-images`' business (bytes in, variants out); this crate is the
//! worker around it: the queue, S3, the memory budget, and the commands it executes on the
//! photo through the write side's event store.
//!
//! For each `PhotoUploaded` or `PhotoReprocessRequested` it records that processing started
//! (a photo that is already ready, deleted or failed is left as it is: a redelivered message
//! changes nothing), downloads the original with a size cap, checks the declared SHA-256,
//! renders the variants ([`catalog_images::render`]) on a blocking thread within a memory budget,
//! stores them in the variants bucket under a key of this attempt (immutable: a reprocess
//! never changes bytes behind a cached URL), and completes the photo. Then, the photo ready,
//! it hands the pixels the render kept to the [`later`] lane, which encodes their AVIF at the
//! lowest CPU priority, stores them beside the others and records them (`AddFormat`):
//! libaom's better-compressing speed takes longer than a photo should wait to be ready.
//!
//! A file that is not a safe image fails the photo with the reason, and the message is done.
//! Anything else (S3 or Postgres unavailable) leaves the message for redelivery; on its last
//! receive the photo is failed and the message moves to the dead-letter queue. A job that runs
//! long keeps extending its message's visibility, up to its deadline.
//!
//! A processor killed while it held a message on its last receive cannot fail the photo, so
//! the processor also watches its dead-letter queue: a dead-lettered render fails its photo
//! (if it is still waiting) with a reason the seller can act on, and a dead-lettered upload
//! record or file removal is tried again there, backing off, until it succeeds. No photo is
//! left `processing` by a crash.
//!
//! S3 reports every original it stores ("Object Created", routed here from the account's
//! default bus): if the client never called upload-complete, the upload is recorded here, with
//! the same checks ([`catalog_write_side::uploads`]), and the photo goes on to be rendered.

pub mod jobs;
pub mod later;
pub mod purge;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use catalog_events::resources::{QueueRole, Resources};
use catalog_events::{Placeholder, Variant, VariantFormat, VariantName};
use futures_util::future::try_join_all;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use catalog_events::PhotoStatus;
use catalog_images::{Alternate, Limits, Pixels, Rejection, Rendition};
use catalog_runtime::aws::S3Settings;
use catalog_runtime::queue::{Delivery, Polling, Queue};
use catalog_runtime::settings::UploadLimit;
use catalog_write_side::aggregate::{PhotoCommand, PhotoError};
use catalog_write_side::originals::Originals;
use catalog_write_side::store::{CommandError, PhotoStore};
use catalog_write_side::uploads::{self, NotRecorded};

use crate::jobs::Job;
use crate::later::Later;
use crate::purge::Purger;

/// Cache header of variants: their keys never change content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Bytes of memory a decoded pixel may take across the pipeline (source, resized copies).
const BYTES_PER_PIXEL: u64 = 8;
/// Memory every job reserves on top of its file and pixels: decoder state and the encoders,
/// two of which run side by side (libaom's AVIF encoder of a 1600-pixel variant alone takes
/// about 25 MiB).
const JOB_OVERHEAD_BYTES: u64 = 32 << 20;

/// Settings of `catalog process-images`.
#[derive(Debug, Clone, clap::Args)]
pub struct ProcessorConfig {
    /// Most pixels an image may declare; larger ones fail before decoding.
    #[arg(long, env = "CATALOG_MAX_PIXELS", default_value_t = 50_000_000)]
    pub max_pixels: u64,
    #[command(flatten)]
    pub upload_limit: UploadLimit,
    /// Jobs at once (default: one per core).
    #[arg(long, env = "CATALOG_IMAGE_JOBS")]
    pub jobs: Option<usize>,
    /// Memory the decoded images of all jobs may take together, in MiB.
    #[arg(long, env = "CATALOG_IMAGE_MEMORY_MIB", default_value_t = 1024)]
    pub memory_mib: u64,
    /// How long one job may take, download to upload (`90s`, `2m`); past it the photo fails
    /// and its slot is free for the next.
    #[arg(long, env = "CATALOG_IMAGE_JOB_DEADLINE", default_value = "2m", value_parser = humantime::parse_duration)]
    pub job_deadline: Duration,
    #[command(flatten)]
    pub polling: Polling,
    #[command(flatten)]
    pub s3: S3Settings,
    /// The CloudFront distribution in front of the variants (AWS), told to forget a deleted
    /// photo's variants.
    #[arg(long, env = "CATALOG_CDN_DISTRIBUTION_ID")]
    pub cdn_distribution_id: Option<String>,
}

/// How one message ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The photo is ready, failed with a reason, or needs nothing: the message is done.
    Done,
    /// Try again later.
    Retry(String),
    /// The process is stopping while the job waits for the event store: the message returns
    /// to the queue for another process once its visibility runs out.
    Left,
}

/// How long a dead letter that could not be settled waits before it is tried again.
const DEAD_LETTER_BACKOFF: Duration = Duration::from_secs(300);

pub struct Processor {
    queue: Queue,
    dead_letters: Queue,
    s3: aws_sdk_s3::Client,
    store: Arc<PhotoStore>,
    originals: String,
    variants: String,
    limits: Limits,
    max_bytes: u64,
    polling: Polling,
    jobs: usize,
    memory: Arc<Semaphore>,
    memory_mib: u32,
    deadline: Duration,
    /// The originals bucket as the write side checks it, for uploads only S3 reported.
    uploads: Originals,
    upload_prefix: String,
    purger: Purger,
    /// Where a job hands a ready photo's pixels for its AVIF ([`later`]).
    later: tokio::sync::mpsc::Sender<Later>,
    /// The lane's other end, taken when the processor runs.
    later_queue: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<Later>>>,
}

impl Processor {
    pub async fn new(
        sdk: &SdkConfig,
        resources: &Resources,
        store: Arc<PhotoStore>,
        config: &ProcessorConfig,
    ) -> anyhow::Result<Self> {
        let queue = Queue::open(sdk, resources, QueueRole::Images).await?;
        let dead_letters = Queue::open_dead_letters(sdk, resources, QueueRole::Images).await?;
        let s3 = config.s3.client(sdk);
        let jobs = config
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1);
        let memory_mib = u32::try_from(config.memory_mib.max(1)).unwrap_or(u32::MAX);
        let uploads = Originals::from_env(&resources.buckets, &config.s3)
            .await
            .map_err(|error| anyhow::anyhow!("the originals bucket: {error}"))?;
        let purger = Purger {
            s3: s3.clone(),
            originals: resources.buckets.originals.clone(),
            variants: resources.buckets.variants.clone(),
            cdn: config
                .cdn_distribution_id
                .clone()
                .map(|distribution| (aws_sdk_cloudfront::Client::new(sdk), distribution)),
        };
        let (later, later_queue) = later::lane();
        Ok(Self {
            later,
            later_queue: std::sync::Mutex::new(Some(later_queue)),
            uploads,
            upload_prefix: resources.upload_events.key_prefix.clone(),
            purger,
            queue,
            dead_letters,
            s3,
            store,
            originals: resources.buckets.originals.clone(),
            variants: resources.buckets.variants.clone(),
            limits: Limits {
                max_pixels: config.max_pixels,
            },
            max_bytes: config.upload_limit.max_upload_bytes,
            polling: config.polling.clone(),
            jobs,
            memory: Arc::new(Semaphore::new(memory_mib as usize)),
            memory_mib,
            deadline: config.job_deadline.max(Duration::from_millis(1)),
        })
    }

    /// Processes until `shutdown` is cancelled, `jobs` at a time, settles dead letters one at
    /// a time, and makes the later formats of ready photos one at a time; jobs under way
    /// finish, and the later formats already handed over are made.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let queue = self
            .later_queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let lane =
            queue.map(|queue| tokio::spawn(Arc::clone(&self).later_lane(queue, shutdown.clone())));
        let this = Arc::clone(&self);
        let jobs = self
            .queue
            .consume_each(self.jobs, &self.polling, shutdown.clone(), {
                let shutdown = shutdown.clone();
                move |delivery| {
                    let (processor, shutdown) = (Arc::clone(&this), shutdown.clone());
                    async move { processor.handle(delivery, &shutdown).await }
                }
            });
        let this = Arc::clone(&self);
        let dead_letters = self
            .dead_letters
            .consume_each(1, &self.polling, shutdown.clone(), {
                move |delivery| {
                    let (processor, shutdown) = (Arc::clone(&this), shutdown.clone());
                    async move { processor.settle(delivery, &shutdown).await }
                }
            });
        tokio::join!(jobs, dead_letters);
        if let Some(lane) = lane
            && let Err(error) = lane.await
        {
            tracing::error!(%error, "the lane of later formats ended abnormally");
        }
    }

    /// Makes the later formats of each photo handed over, one photo at a time, until
    /// `shutdown`; then closes the lane and makes those still in it.
    async fn later_lane(
        self: Arc<Self>,
        mut queue: tokio::sync::mpsc::Receiver<Later>,
        shutdown: CancellationToken,
    ) {
        loop {
            let later = tokio::select! {
                later = queue.recv() => later,
                () = shutdown.cancelled() => None,
            };
            match later {
                Some(later) => self.add_later_formats(later).await,
                None => break,
            }
        }
        queue.close();
        while let Some(later) = queue.recv().await {
            self.add_later_formats(later).await;
        }
    }

    /// Settles a dead-lettered job: a render fails its photo if it is still waiting; any other
    /// job is tried once more, and waits longer after each failure.
    async fn settle(&self, delivery: Delivery<Job>, shutdown: &CancellationToken) {
        let receipt = delivery.receipt.as_str();
        let outcome = self
            .holding(&self.dead_letters, receipt, shutdown, || async {
                match &delivery.envelope {
                    Job::Render(photo) => self.give_up(*photo).await,
                    Job::Purge(photo) => self.purge(*photo).await,
                    Job::Confirm { key } => self.confirm(key).await,
                }
            })
            .await;
        match outcome {
            Outcome::Done => self.dead_letters.delete(vec![receipt.to_owned()]).await,
            Outcome::Left => {}
            Outcome::Retry(reason) => {
                tracing::warn!(job = ?delivery.envelope, receives = delivery.receives, %reason, "a dead-lettered job is still failing");
                if let Err(error) = self.dead_letters.hide(receipt, DEAD_LETTER_BACKOFF).await {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "could not put off a dead-lettered job"
                    );
                }
            }
        }
    }

    /// Fails a photo whose processing could not finish, if it is still waiting for it.
    async fn give_up(&self, photo: Uuid) -> Outcome {
        let reason = "the photo could not be processed; reprocess it to try again";
        self.fail(photo, reason, &format!("give-up:{photo}")).await
    }

    /// Runs `job` to its outcome; a job that failed while the event store cannot be reached is
    /// held (its message hidden, no receive spent) until the store answers, then run again, so
    /// an outage fails no photo and dead-letters nothing.
    async fn holding<F, Fut>(
        &self,
        queue: &Queue,
        receipt: &str,
        shutdown: &CancellationToken,
        job: F,
    ) -> Outcome
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Outcome>,
    {
        loop {
            let outcome = job().await;
            if matches!(outcome, Outcome::Retry(_)) && !self.store.reachable().await {
                tracing::warn!("the event store cannot be reached; the job waits for it");
                if !queue
                    .hold_until(receipt, self.store.until_reachable(), shutdown)
                    .await
                {
                    return Outcome::Left;
                }
                continue;
            }
            return outcome;
        }
    }

    /// Handles one message, whatever its job.
    async fn handle(&self, delivery: Delivery<Job>, shutdown: &CancellationToken) {
        let (receipt, receives) = (delivery.receipt.as_str(), delivery.receives);
        let outcome = self
            .holding(&self.queue, receipt, shutdown, || async {
                match &delivery.envelope {
                    Job::Render(photo) => self.render_photo(*photo, receipt).await,
                    Job::Purge(photo) => self.purge(*photo).await,
                    Job::Confirm { key } => self.confirm(key).await,
                }
            })
            .await;
        match (outcome, &delivery.envelope) {
            (Outcome::Done, _) => self.queue.delete(vec![receipt.to_owned()]).await,
            (Outcome::Left, _) => {}
            (Outcome::Retry(reason), Job::Render(photo)) if receives >= self.queue.max_receives => {
                tracing::error!(%photo, receives, %reason, "giving up; the message goes to the dead-letter queue");
                if let Outcome::Retry(error) = self.give_up(*photo).await {
                    tracing::warn!(%photo, %error, "could not mark the photo failed; its dead letter will");
                }
            }
            (Outcome::Retry(reason), job) => {
                tracing::warn!(?job, receives, %reason, "the job will be retried");
            }
        }
    }

    /// Removes a deleted photo's files.
    async fn purge(&self, photo: Uuid) -> Outcome {
        match self.store.load(photo).await {
            Ok(Some(state)) if state.status == PhotoStatus::Deleted => {
                match self.purger.purge(photo, &state.object_key).await {
                    Ok(()) => Outcome::Done,
                    Err(error) => Outcome::Retry(format!("{error:#}")),
                }
            }
            // Not deleted (a message from elsewhere): nothing of it is removed.
            Ok(_) => Outcome::Done,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }

    /// Records the upload of the original S3 reported, if its client has not.
    async fn confirm(&self, key: &str) -> Outcome {
        let Some(photo) = Job::photo_of(key, &self.upload_prefix) else {
            tracing::warn!(%key, "an object that is no photo's original");
            return Outcome::Done;
        };
        let state = match self.store.load(photo).await {
            Ok(Some(state)) if state.status == PhotoStatus::PendingUpload => state,
            Ok(_) => return Outcome::Done,
            Err(error) => return Outcome::Retry(error.to_string()),
        };
        match uploads::record(
            &self.store,
            &self.uploads,
            &state,
            &format!("s3-upload:{photo}"),
            None,
        )
        .await
        {
            Ok(_) => {
                tracing::info!(%photo, "an upload only S3 reported is recorded");
                Outcome::Done
            }
            // Not the declared file, or gone since: the photo waits for its client (or expires).
            Err(
                refused @ (NotRecorded::Missing
                | NotRecorded::ChecksumDiffers
                | NotRecorded::Command(CommandError::Refused(_))),
            ) => {
                tracing::info!(%photo, %refused, "an upload S3 reported is not recorded");
                Outcome::Done
            }
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }

    /// Renders a photo's variants, keeping its message invisible to others while it runs, up
    /// to the job's deadline.
    async fn render_photo(&self, photo: Uuid, receipt: &str) -> Outcome {
        tokio::select! {
            outcome = tokio::time::timeout(self.deadline, self.process(photo)) => match outcome {
                Ok(outcome) => outcome,
                Err(_) => {
                    tracing::warn!(%photo, deadline = ?self.deadline, "a job ran past its deadline");
                    let reason = Rejection::TooSlow {
                        limit: humantime::format_duration(self.deadline).to_string(),
                    };
                    self.fail(photo, &reason.to_string(), &photo.to_string()).await
                }
            },
            () = self.queue.keep_hidden(receipt) => Outcome::Retry("the visibility heartbeat stopped".into()),
        }
    }

    async fn process(&self, photo: Uuid) -> Outcome {
        let correlation = format!("process-images:{photo}");
        let state = match self
            .store
            .execute(photo, PhotoCommand::StartProcessing, &correlation)
            .await
        {
            Ok(state) => state,
            Err(CommandError::Refused(PhotoError::NotAllowed { .. } | PhotoError::NotFound)) => {
                return Outcome::Done;
            }
            Err(error) => return Outcome::Retry(error.to_string()),
        };
        let original = match self
            .download(&state.object_key, state.checksum_sha256.as_deref())
            .await
        {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(rejection)) => {
                return self.fail(photo, &rejection.to_string(), &correlation).await;
            }
            Err(error) => return Outcome::Retry(error.to_string()),
        };
        let rendition = match self.render(original).await {
            Ok(Ok(rendition)) => rendition,
            Ok(Err(rejection)) => {
                return self.fail(photo, &rejection.to_string(), &correlation).await;
            }
            Err(error) => return Outcome::Retry(error.to_string()),
        };
        // A key of this job's own: a racing job for the same photo never touches these.
        let prefix = format!(
            "variants/{photo}/{}-{}",
            state.processing_attempts,
            Uuid::now_v7().simple()
        );
        let variants = match self.store_variants(&prefix, &rendition).await {
            Ok(variants) => variants,
            Err(error) => return Outcome::Retry(error.to_string()),
        };
        let placeholder = &rendition.placeholder;
        let command = PhotoCommand::CompleteProcessing {
            width: rendition.width,
            height: rendition.height,
            variants,
            placeholder: Some(Placeholder {
                dominant_color: placeholder.dominant_color.clone(),
                thumbhash: placeholder.thumbhash.clone(),
            }),
        };
        match self.store.execute(photo, command, &correlation).await {
            Ok(_) => {
                if !rendition.later.is_empty() {
                    let later = Later {
                        photo,
                        prefix,
                        pixels: rendition.later,
                        correlation,
                    };
                    // Waits while the lane is full: a sustained overload slows renders.
                    if self.later.send(later).await.is_err() {
                        tracing::warn!(%photo, "stopping: the photo's AVIF variants are not made");
                    }
                }
                Outcome::Done
            }
            Err(CommandError::Refused(refusal)) => {
                // Deleted or reprocessed meanwhile: these variants serve nothing.
                tracing::info!(%photo, %refusal, "processing finished after the photo moved on");
                self.remove_variants(&prefix, &rendition).await;
                Outcome::Done
            }
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }

    /// Makes the formats that come after the photo is ready (AVIF) from the pixels its render
    /// kept, stores them beside the variants and records them. The photo is ready without
    /// them, so a failure here is logged and the job still ends: the next reprocess makes them.
    async fn add_later_formats(&self, later: Later) {
        let Later {
            photo,
            prefix,
            pixels,
            correlation,
        } = later;
        let prefix = prefix.as_str();
        let encoded = match self.encode_later(pixels).await {
            Ok(Ok(encoded)) => encoded,
            Ok(Err(rejection)) => {
                tracing::warn!(%photo, %rejection, "the AVIF variants could not be made");
                return;
            }
            Err(error) => {
                tracing::warn!(%photo, error = format!("{error:#}"), "the AVIF variants could not be made");
                return;
            }
        };
        let stored = encoded.iter().map(|(name, alternate)| async move {
            anyhow::Ok((*name, self.store_format(prefix, *name, alternate).await?))
        });
        let files: BTreeMap<VariantName, VariantFormat> = match try_join_all(stored).await {
            Ok(files) => files.into_iter().collect(),
            Err(error) => {
                tracing::warn!(%photo, error = format!("{error:#}"), "the AVIF variants could not be stored");
                return;
            }
        };
        let command = PhotoCommand::AddFormat {
            format: "image/avif".to_owned(),
            files,
        };
        match self.store.execute(photo, command, &correlation).await {
            Ok(_) => {}
            Err(CommandError::Refused(refusal)) => {
                // Deleted or reprocessed while they were made: they serve nothing.
                tracing::info!(%photo, %refusal, "the AVIF variants came after the photo moved on");
                let keys = encoded
                    .iter()
                    .map(|(name, alternate)| variant_key(prefix, *name, alternate.content_type))
                    .collect();
                self.delete_files(keys).await;
            }
            Err(error) => {
                tracing::warn!(%photo, %error, "the AVIF variants could not be recorded");
            }
        }
    }

    /// Encodes the later formats at the lowest CPU priority, within the memory budget (the
    /// pixels and the encoders' overhead).
    async fn encode_later(
        &self,
        pixels: Vec<Pixels>,
    ) -> anyhow::Result<Result<Vec<(VariantName, Alternate)>, Rejection>> {
        let bytes = pixels.iter().map(|p| p.rgb.len() as u64).sum::<u64>() + JOB_OVERHEAD_BYTES;
        let mib = u32::try_from(bytes.div_ceil(1 << 20))
            .unwrap_or(u32::MAX)
            .clamp(1, self.memory_mib);
        let memory = Arc::clone(&self.memory).acquire_many_owned(mib).await?;
        later::at_lowest_priority(move || {
            let encoded = catalog_images::variants::later_formats(&pixels);
            drop(memory);
            encoded
        })
        .await
    }

    async fn fail(&self, photo: Uuid, reason: &str, correlation: &str) -> Outcome {
        let command = PhotoCommand::FailProcessing {
            reason: reason.to_owned(),
        };
        match self.store.execute(photo, command, correlation).await {
            Ok(_) | Err(CommandError::Refused(_)) => Outcome::Done,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }

    /// The original's bytes, refused if over the cap or not the declared file.
    async fn download(
        &self,
        key: &str,
        checksum: Option<&str>,
    ) -> anyhow::Result<Result<Vec<u8>, Rejection>> {
        let object = self
            .s3
            .get_object()
            .bucket(&self.originals)
            .key(key)
            .send()
            .await?;
        let size = u64::try_from(object.content_length().unwrap_or_default()).unwrap_or(u64::MAX);
        if size > self.max_bytes {
            return Ok(Err(Rejection::TooLarge {
                limit: self.max_bytes,
            }));
        }
        let bytes = object.body.collect().await?.into_bytes().to_vec();
        if checksum.is_some_and(|declared| hex::encode(Sha256::digest(&bytes)) != declared) {
            return Ok(Err(Rejection::ChecksumMismatch));
        }
        Ok(Ok(bytes))
    }

    /// Renders on a blocking thread, holding the memory the job may take (its file, its
    /// pixels, the overhead) until that thread ends, even if the job was given up before.
    async fn render(&self, original: Vec<u8>) -> anyhow::Result<Result<Rendition, Rejection>> {
        let pixels = catalog_images::decode::declared_pixels(&original)
            .unwrap_or(0)
            .min(self.limits.max_pixels);
        let bytes = original.len() as u64 + pixels * BYTES_PER_PIXEL + JOB_OVERHEAD_BYTES;
        let mib = u32::try_from(bytes.div_ceil(1 << 20))
            .unwrap_or(u32::MAX)
            .clamp(1, self.memory_mib);
        let memory = Arc::clone(&self.memory).acquire_many_owned(mib).await?;
        let limits = self.limits;
        Ok(tokio::task::spawn_blocking(move || {
            let rendition = catalog_images::render(&original, limits);
            drop(memory);
            rendition
        })
        .await?)
    }

    async fn store_variants(
        &self,
        prefix: &str,
        rendition: &Rendition,
    ) -> anyhow::Result<BTreeMap<VariantName, Variant>> {
        let uploads = rendition.variants.iter().map(|rendered| async move {
            let key = variant_key(prefix, rendered.name, rendered.content_type);
            self.put(&key, rendered.content_type, &rendered.bytes)
                .await?;
            let mut formats = BTreeMap::new();
            for alternate in &rendered.alternates {
                let format = self.store_format(prefix, rendered.name, alternate).await?;
                formats.insert(alternate.content_type.to_owned(), format);
            }
            let variant = Variant {
                key,
                width: rendered.width,
                height: rendered.height,
                bytes: rendered.bytes.len() as u64,
                content_type: rendered.content_type.to_owned(),
                formats,
            };
            anyhow::Ok((rendered.name, variant))
        });
        Ok(try_join_all(uploads).await?.into_iter().collect())
    }

    /// Stores a variant in another format beside it; returns where it is.
    async fn store_format(
        &self,
        prefix: &str,
        name: VariantName,
        alternate: &Alternate,
    ) -> anyhow::Result<VariantFormat> {
        let key = variant_key(prefix, name, alternate.content_type);
        self.put(&key, alternate.content_type, &alternate.bytes)
            .await?;
        Ok(VariantFormat {
            key,
            bytes: alternate.bytes.len() as u64,
        })
    }

    /// Stores one file of a variant, immutable.
    async fn put(&self, key: &str, content_type: &str, bytes: &[u8]) -> anyhow::Result<()> {
        self.s3
            .put_object()
            .bucket(&self.variants)
            .key(key)
            .content_type(content_type)
            .cache_control(IMMUTABLE)
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await?;
        Ok(())
    }

    async fn remove_variants(&self, prefix: &str, rendition: &Rendition) {
        let mut files = Vec::new();
        for rendered in &rendition.variants {
            files.push(variant_key(prefix, rendered.name, rendered.content_type));
            for alternate in &rendered.alternates {
                files.push(variant_key(prefix, rendered.name, alternate.content_type));
            }
        }
        self.delete_files(files).await;
    }

    /// Deletes files of the variants bucket that nothing refers to, logging what it cannot.
    async fn delete_files(&self, keys: Vec<String>) {
        for key in keys {
            if let Err(error) = self
                .s3
                .delete_object()
                .bucket(&self.variants)
                .key(&key)
                .send()
                .await
            {
                tracing::warn!(%key, %error, "could not remove an unused variant");
            }
        }
    }
}

fn variant_key(prefix: &str, name: VariantName, content_type: &str) -> String {
    let extension = match content_type {
        "image/png" => "png",
        "image/webp" => "webp",
        "image/avif" => "avif",
        _ => "jpg",
    };
    format!("{prefix}/{name}.{extension}")
}
