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
//! renders the variants ([`catalog_images::render_sandboxed`]) on a blocking thread within a
//! memory budget, stores them in the variants bucket under a key of this attempt (immutable: a
//! reprocess never changes bytes behind a cached URL), and completes the photo. Then, the photo
//! ready, it hands the pixels the render kept to the [`later`] lane, which encodes their AVIF
//! at the lowest CPU priority, stores them beside the others and records them (`AddFormat`):
//! libaom's better-compressing speed takes longer than a photo should wait to be ready.
//!
//! The original is decoded in a process of its own, this binary again confined to decoding
//! ([`catalog_images::sandbox`]): the C decoders never parse a file beside the credentials of
//! the database and AWS. A decoder that crashes or runs out of its memory fails that photo
//! with the reason and is counted (`catalog_image_decoder_crashes_total`); the processor goes
//! on with the next. It checks at start that such a process confines itself, and logs how.
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
//! the same checks ([`catalog_event_store::uploads`]), and the photo goes on to be rendered.
//!
//! # Where each part is
//!
//! One [`Processor`] does all of it; its methods are spread over the modules by concern, so
//! that each file reads as one path a message can take.
//!
//! - This file: the settings ([`ProcessorConfig`]), the processor, and [`Processor::run`],
//!   which consumes the images queue `jobs` at a time, the dead-letter queue one at a time,
//!   and the lane of later formats; the dispatch of a message to its job (`handle`), holding a
//!   job while the event store cannot be reached (`holding`), and what the jobs share: how a
//!   message ended (`Outcome`), failing a photo (`fail`), and the memory a job reserves
//!   beyond its pixels.
//! - [`jobs`]: what a message of the queue carries.
//! - `render.rs`: a render, from starting the photo to completing it, and the variants
//!   bucket's files (their keys, writes and deletes). Apart because it is the one path to a
//!   ready photo and most of the work; the later formats reuse its storing of a file.
//! - [`later`]: the lane of later formats (AVIF), its queue and threads and the processor's
//!   loop over it. Apart because it runs after the photo is ready, off the job's slot, one
//!   photo at a time, and a failure there leaves the photo as it is.
//! - `dead_letters.rs`: settling the dead-letter queue. Apart because it is the recovery from
//!   a crash, with rules of its own (a render gives up, anything else is tried again later).
//! - `confirm.rs`: recording an upload only S3 reported.
//! - [`purge`]: removing a deleted photo's files.
//! - [`backfill`]: `catalog backfill`, which asks this processor for what ready photos lack
//!   (a new render, their AVIF), throttled behind new uploads.

pub mod backfill;
mod confirm;
mod dead_letters;
pub mod jobs;
pub mod later;
pub mod purge;
mod render;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use catalog_events::resources::{QueueRole, Resources};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use catalog_event_store::aggregate::PhotoCommand;
use catalog_event_store::originals::Originals;
use catalog_event_store::store::{Cause, CommandError, PhotoStore};
use catalog_events::TraceParent;
use catalog_images::Limits;
use catalog_images::sandbox::Sandbox;
use catalog_runtime::aws::S3Settings;
use catalog_runtime::queue::{Delivery, Polling, Queue};
use catalog_runtime::settings::UploadLimit;

use crate::jobs::{Job, Original};
use crate::later::Later;
use crate::purge::Purger;

/// Memory every job reserves on top of its file and pixels: decoder state and the encoders,
/// two of which run side by side (libaom's AVIF encoder of a 1600-pixel variant alone takes
/// about 25 MiB).
const JOB_OVERHEAD_BYTES: u64 = 32 << 20;

/// The cause of a command a job runs: the job (`name`), in the trace of the event that asked
/// for it, under the job's span; without one, the photo's own trace.
fn job_cause(name: String, trace: Option<TraceParent>) -> Cause {
    let current = tracing::Span::current();
    Cause::new(
        name,
        trace.map(|trace| catalog_runtime::trace::handed_on(&current, &trace)),
    )
}

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
    /// The binary whose hidden `decode-sandbox` decodes originals: this one when unset. Not a
    /// setting: the tests, which run the processor inside their own binary, name `catalog`.
    #[arg(skip)]
    pub decoder: Option<PathBuf>,
}

/// The decoders' sandbox, each decode killed past `deadline`, once its decoder process has
/// shown that it confines itself (logged); an error if it cannot.
async fn start_sandbox(decoder: Option<PathBuf>, deadline: Duration) -> anyhow::Result<Sandbox> {
    let program = match decoder {
        Some(program) => program,
        None => std::env::current_exe()?,
    };
    let sandbox = Sandbox::new(program, deadline);
    let checked = sandbox.clone();
    let confinement = tokio::task::spawn_blocking(move || checked.check())
        .await?
        .map_err(|error| anyhow::anyhow!("the decoders' sandbox does not start: {error}"))?;
    tracing::info!(%confinement, "originals are decoded in a sandbox");
    Ok(sandbox)
}

/// How one message ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The photo is ready, failed with a reason, or needs nothing: the message is done.
    Done,
    /// Try again later, for this reason: the error with its causes (`{error:#}`), so the log
    /// names what S3 or the event store answered, not only "service error".
    Retry(String),
    /// The process is stopping while the job waits for the event store: the message returns
    /// to the queue for another process once its visibility runs out.
    Left,
}

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
    /// Where originals are decoded.
    sandbox: Sandbox,
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
        let deadline = config.job_deadline.max(Duration::from_millis(1));
        let sandbox = start_sandbox(config.decoder.clone(), deadline).await?;
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
            deadline,
            sandbox,
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

    /// The span a job runs in: its photo and the trace of the event that asked for it.
    fn job_span(&self, job: &Job) -> tracing::Span {
        let span = tracing::info_span!(
            "process",
            photo_id = tracing::field::Empty,
            trace_id = tracing::field::Empty
        );
        if let Some(photo) = job.photo(&self.upload_prefix) {
            span.record("photo_id", tracing::field::display(photo));
        }
        if let Some(trace) = job.trace() {
            catalog_runtime::trace::follow(&span, &trace);
        }
        span
    }

    /// Handles one message, whatever its job, in its photo's trace.
    async fn handle(&self, delivery: Delivery<Job>, shutdown: &CancellationToken) {
        let span = self.job_span(&delivery.envelope);
        self.handle_traced(delivery, shutdown)
            .instrument(span)
            .await;
    }

    async fn handle_traced(&self, delivery: Delivery<Job>, shutdown: &CancellationToken) {
        let (receipt, receives) = (delivery.receipt.as_str(), delivery.receives);
        let outcome = self
            .holding(&self.queue, receipt, shutdown, || async {
                match &delivery.envelope {
                    Job::Render {
                        photo,
                        trace,
                        original,
                    } => self.render_photo(*photo, *trace, *original, receipt).await,
                    Job::Purge { photo, .. } => self.purge(*photo).await,
                    Job::PurgeReplaced { photo, .. } => self.purge_replaced(*photo).await,
                    Job::LaterFormats { photo, trace } => {
                        self.make_later(*photo, *trace, receipt).await
                    }
                    Job::Confirm { key } => self.confirm(key).await,
                }
            })
            .await;
        match (outcome, &delivery.envelope) {
            (Outcome::Done, _) => self.queue.delete(vec![receipt.to_owned()]).await,
            (Outcome::Left, _) => {}
            (
                Outcome::Retry(reason),
                Job::Render {
                    photo,
                    trace,
                    original,
                },
            ) if receives >= self.queue.max_receives => {
                tracing::error!(%photo, receives, %reason, "giving up; the message goes to the dead-letter queue");
                if let Outcome::Retry(error) = self.give_up(*photo, *trace, *original).await {
                    tracing::warn!(%photo, %error, "could not mark the photo failed; its dead letter will");
                }
            }
            (Outcome::Retry(reason), job) => {
                tracing::warn!(?job, receives, %reason, "the job will be retried");
            }
        }
    }

    /// Fails the render of the photo's `original` with `reason` (a new original that fails
    /// leaves the photo showing the one before); a photo that moved on (the command refused)
    /// is done too.
    async fn fail(&self, photo: Uuid, original: Original, reason: &str, cause: &Cause) -> Outcome {
        let reason = reason.to_owned();
        let command = match original {
            Original::First => PhotoCommand::FailProcessing { reason },
            Original::Replacement => PhotoCommand::FailReplacement { reason },
        };
        match self.store.execute(photo, command, cause).await {
            Ok(_) | Err(CommandError::Refused(_)) => Outcome::Done,
            Err(error) => Outcome::Retry(format!("{error:#}")),
        }
    }

    /// Waits until `bytes` of the memory budget are free (at least 1 MiB, at most all of it)
    /// and holds them until the permit is dropped.
    async fn reserve(&self, bytes: u64) -> anyhow::Result<OwnedSemaphorePermit> {
        let mib = u32::try_from(bytes.div_ceil(1 << 20))
            .unwrap_or(u32::MAX)
            .clamp(1, self.memory_mib);
        Ok(Arc::clone(&self.memory).acquire_many_owned(mib).await?)
    }
}
