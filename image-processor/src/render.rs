//! A render: one photo's original turned into its stored variants, and the photo completed
//! (or failed with the seller's reason).
//!
//! The steps of a `Job::Render`, in order: start processing (a photo that moved on is left as
//! it is; a new original replacing the photo's needs no start, the photo stays as it is
//! meanwhile), download the original with a size cap and check its declared SHA-256, render on a
//! blocking thread within the memory budget, the original decoded in a confined process of
//! its own ([`catalog_images::render_sandboxed`]), store the variants
//! in the variants bucket under a key of this attempt (immutable: a reprocess never changes
//! bytes behind a cached URL), complete the photo, and hand the pixels the render kept to the
//! lane of later formats (`later.rs`). All of it runs within the job's deadline while the
//! message is kept hidden.
//!
//! Here too are the variants bucket's writes and deletes and the keys of its files, which the
//! later formats share: an AVIF goes beside the variants it was made from, and files that
//! came after their photo moved on are removed the same way.
//!
//! Each stage is timed (`catalog_image_job_seconds`, by stage and outcome), each job counted
//! by outcome and the class of its failure (`catalog_image_jobs_total`), and the times of a
//! ready photo's stages are kept with its event, for `catalog trace`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use catalog_event_store::aggregate::{PhotoCommand, PhotoError};
use catalog_event_store::store::{Cause, CommandError};
use catalog_events::{
    AVIF, PhotoState, Placeholder, TraceParent, Variant, VariantFormat, VariantName, WEBP,
};
use catalog_images::{Alternate, Rejection, Rendition, Timings};
use futures_util::future::try_join_all;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::jobs::Original;
use crate::later::Later;
use crate::{JOB_OVERHEAD_BYTES, Outcome, Processor, job_cause};

/// Cache header of variants: their keys never change content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Bytes of memory a decoded pixel may take across the pipeline (source, resized copies).
const BYTES_PER_PIXEL: u64 = 8;
/// What the decoder process may take beyond the job's reservation: a 16-bit image converted to
/// 8 bits holds both at once (12 bytes a pixel where the reservation counts 8), libheif's
/// threads their stacks, and the allocator its slack.
const DECODER_BYTES_PER_PIXEL: u64 = 4;
const DECODER_HEADROOM_BYTES: u64 = 64 << 20;

impl Processor {
    /// Renders a photo's variants, keeping its message invisible to others while it runs, up
    /// to the job's deadline.
    pub(crate) async fn render_photo(
        &self,
        photo: Uuid,
        trace: Option<TraceParent>,
        original: Original,
        receipt: &str,
    ) -> Outcome {
        let _hidden = self.queue.keep_hidden(receipt);
        let cause = job_cause(format!("process-images:{photo}"), trace);
        let mut stages = Stages::new();
        let job = self.process(photo, original, &cause, &mut stages);
        let (outcome, ended) = match tokio::time::timeout(self.deadline, job).await {
            Ok(ended) => ended,
            Err(_) => {
                tracing::warn!(%photo, deadline = ?self.deadline, "a job ran past its deadline");
                let reason = Rejection::TooSlow {
                    limit: humantime::format_duration(self.deadline).to_string(),
                };
                let outcome = self
                    .fail(photo, original, &reason.to_string(), &cause)
                    .await;
                (outcome, Ended::Failed(reason.class()))
            }
        };
        stages.record(ended);
        outcome
    }

    /// The photo as a render of its `original` starts from: its own once processing started
    /// (`None`: it is not waiting for one), or the new one it was given, once uploaded.
    async fn start(
        &self,
        photo: Uuid,
        original: Original,
        cause: &Cause,
    ) -> Result<Option<(PhotoState, String, Option<String>)>, CommandError> {
        let state = match original {
            Original::First => {
                match self
                    .store
                    .execute(photo, PhotoCommand::StartProcessing, cause)
                    .await
                {
                    Ok(state) => state,
                    Err(CommandError::Refused(
                        PhotoError::NotAllowed { .. } | PhotoError::NotFound,
                    )) => return Ok(None),
                    Err(error) => return Err(error),
                }
            }
            Original::Replacement => match self.store.load(photo).await? {
                Some(state) if state.replacement.as_ref().is_some_and(|new| new.uploaded) => state,
                _ => return Ok(None),
            },
        };
        let (key, checksum) = match (original, &state.replacement) {
            (Original::Replacement, Some(new)) => {
                (new.object_key.clone(), new.checksum_sha256.clone())
            }
            _ => (state.object_key.clone(), state.checksum_sha256.clone()),
        };
        Ok(Some((state, key, checksum)))
    }

    /// The render's steps, each timed into `stages`; how the job ended.
    async fn process(
        &self,
        photo: Uuid,
        original: Original,
        cause: &Cause,
        stages: &mut Stages,
    ) -> (Outcome, Ended) {
        let (state, key, checksum) = match self.start(photo, original, cause).await {
            Ok(Some(started)) => started,
            Ok(None) => return (Outcome::Done, Ended::Skipped),
            Err(error) => return (Outcome::Retry(format!("{error:#}")), Ended::Retry),
        };
        let started = Instant::now();
        let downloaded = self.download(&key, checksum.as_deref()).await;
        stages.download = Some(started.elapsed());
        let bytes = match downloaded {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(rejection)) => return self.refuse(photo, original, &rejection, cause).await,
            Err(error) => return (Outcome::Retry(format!("{error:#}")), Ended::Retry),
        };
        let rendition = match self.render(bytes).await {
            Ok(Ok(rendition)) => rendition,
            Ok(Err(rejection)) => return self.refuse(photo, original, &rejection, cause).await,
            Err(error) => return (Outcome::Retry(format!("{error:#}")), Ended::Retry),
        };
        stages.rendered = Some(rendition.timings);
        let variants = rendition.variants.len();
        if let Some(jpeg) = rendition.qualities.jpeg {
            record_quality("jpeg", jpeg);
        }
        let webps = rendition
            .variants
            .iter()
            .filter(|rendered| !rendered.alternates.is_empty())
            .count();
        record_quality("webp", rendition.qualities.webp);
        record_alternates("webp", variants, webps);
        // A key of this job's own: a racing job for the same photo never touches these.
        let prefix = format!(
            "variants/{photo}/{}-{}",
            state.processing_attempts,
            Uuid::now_v7().simple()
        );
        let started = Instant::now();
        let stored = self.store_variants(&prefix, &rendition).await;
        stages.store = Some(started.elapsed());
        let variants = match stored {
            Ok(variants) => variants,
            Err(error) => return (Outcome::Retry(format!("{error:#}")), Ended::Retry),
        };
        let placeholder = &rendition.placeholder;
        // WebP is settled here; AVIF by the lane, unless no variant is to have one.
        let mut formats_tried = vec![WEBP.to_owned()];
        if rendition.later.is_empty() {
            formats_tried.push(AVIF.to_owned());
        }
        let placeholder = Some(Placeholder {
            dominant_color: placeholder.dominant_color.clone(),
            thumbhash: placeholder.thumbhash.clone(),
        });
        let (width, height) = (rendition.width, rendition.height);
        let command = match original {
            Original::First => PhotoCommand::CompleteProcessing {
                width,
                height,
                variants,
                placeholder,
                formats_tried,
            },
            Original::Replacement => PhotoCommand::CompleteReplacement {
                width,
                height,
                variants,
                placeholder,
                formats_tried,
            },
        };
        let completing = cause.clone().with_details(stages.details());
        match self.store.execute(photo, command, &completing).await {
            Ok(_) => {
                if !rendition.later.is_empty() {
                    self.hand_over(Later {
                        photo,
                        prefix,
                        pixels: rendition.later,
                        cause: cause.clone(),
                    })
                    .await;
                }
                (Outcome::Done, Ended::Ready)
            }
            Err(CommandError::Refused(refusal)) => {
                // Deleted or reprocessed meanwhile: these variants serve nothing.
                tracing::info!(%photo, %refusal, "processing finished after the photo moved on");
                self.remove_variants(&prefix, &rendition).await;
                (Outcome::Done, Ended::Skipped)
            }
            Err(error) => (Outcome::Retry(format!("{error:#}")), Ended::Retry),
        }
    }

    /// Fails the render for a file that is not a safe image.
    async fn refuse(
        &self,
        photo: Uuid,
        original: Original,
        rejection: &Rejection,
        cause: &Cause,
    ) -> (Outcome, Ended) {
        tracing::info!(%photo, %rejection, "the file is refused");
        let outcome = self
            .fail(photo, original, &rejection.to_string(), cause)
            .await;
        (outcome, Ended::Failed(rejection.class()))
    }

    /// The original's bytes, refused if over the cap or not the declared file.
    pub(crate) async fn download(
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
        let too_large = Rejection::TooLarge {
            limit: self.max_bytes,
        };
        let size = u64::try_from(object.content_length().unwrap_or_default()).unwrap_or(u64::MAX);
        if size > self.max_bytes {
            return Ok(Err(too_large));
        }
        // What arrives is counted too: a length S3 did not send (or that is wrong) caps nothing.
        let mut body = object.body;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        while let Some(chunk) = body.try_next().await? {
            if (bytes.len() + chunk.len()) as u64 > self.max_bytes {
                return Ok(Err(too_large));
            }
            bytes.extend_from_slice(&chunk);
        }
        if checksum.is_some_and(|declared| hex::encode(Sha256::digest(&bytes)) != declared) {
            return Ok(Err(Rejection::ChecksumMismatch));
        }
        Ok(Ok(bytes))
    }

    /// Renders on a blocking thread, the original decoded in the sandbox, holding the memory
    /// the job may take (its file, its pixels, the overhead) until that thread ends, even if
    /// the job was given up before. A decoder that crashed is counted.
    pub(crate) async fn render(
        &self,
        original: Vec<u8>,
    ) -> anyhow::Result<Result<Rendition, Rejection>> {
        let pixels = catalog_images::decode::declared_pixels(&original)
            .unwrap_or(0)
            .min(self.limits.max_pixels);
        let bytes = original.len() as u64 + pixels * BYTES_PER_PIXEL + JOB_OVERHEAD_BYTES;
        let decoder_memory = bytes + pixels * DECODER_BYTES_PER_PIXEL + DECODER_HEADROOM_BYTES;
        let memory = self.reserve(bytes).await?;
        let (limits, sandbox) = (self.limits, self.sandbox.clone());
        let rendition = tokio::task::spawn_blocking(move || {
            let rendition =
                catalog_images::render_sandboxed(&original, limits, &sandbox, decoder_memory);
            drop(memory);
            rendition
        })
        .await??;
        if let Err(rejection) = &rendition
            && rejection.is_decoder_failure()
        {
            metrics::counter!("catalog_image_decoder_crashes_total", "reason" => rejection.class())
                .increment(1);
        }
        Ok(rendition)
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
    pub(crate) async fn store_format(
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
    pub(crate) async fn delete_files(&self, keys: Vec<String>) {
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

/// How a render ended, for its metrics.
#[derive(Debug, Clone, Copy)]
enum Ended {
    Ready,
    /// The file is refused, for a reason of this class.
    Failed(&'static str),
    /// The photo had moved on: nothing to do.
    Skipped,
    Retry,
}

/// Records the quality a photo's search chose for a format (`catalog_image_quality`).
pub(crate) fn record_quality(format: &'static str, quality: u8) {
    metrics::histogram!("catalog_image_quality", "format" => format).record(f64::from(quality));
}

/// Records, of a photo's `made` variants in an alternate format, how many were `offered` and
/// how many were left out as not lighter than the primary (`catalog_image_alternates_total`).
pub(crate) fn record_alternates(format: &'static str, made: usize, offered: usize) {
    metrics::counter!("catalog_image_alternates_total", "format" => format, "outcome" => "offered")
        .increment(offered as u64);
    metrics::counter!("catalog_image_alternates_total", "format" => format, "outcome" => "heavier")
        .increment(made.saturating_sub(offered) as u64);
}

/// The time a render spent in each stage so far.
struct Stages {
    started: Instant,
    download: Option<Duration>,
    rendered: Option<Timings>,
    store: Option<Duration>,
}

impl Stages {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            download: None,
            rendered: None,
            store: None,
        }
    }

    fn each(&self) -> Vec<(&'static str, Duration)> {
        let rendered = self.rendered.map(|timings| {
            [
                ("decode", timings.decode),
                ("resize", timings.resize),
                ("choose", timings.choose),
                ("encode", timings.encode),
            ]
        });
        [("download", self.download)]
            .into_iter()
            .chain(
                rendered
                    .into_iter()
                    .flatten()
                    .map(|(stage, time)| (stage, Some(time))),
            )
            .chain([("store", self.store)])
            .filter_map(|(stage, time)| Some((stage, time?)))
            .collect()
    }

    /// The stages' times in milliseconds, kept with the event of a ready photo (`catalog
    /// trace` shows them).
    fn details(&self) -> serde_json::Value {
        let stages: serde_json::Map<String, serde_json::Value> = self
            .each()
            .into_iter()
            .map(|(stage, time)| {
                let ms = u64::try_from(time.as_millis()).unwrap_or(u64::MAX);
                (stage.to_owned(), ms.into())
            })
            .collect();
        serde_json::json!({ "stages_ms": stages })
    }

    /// Records the job in `catalog_image_job_seconds` (each stage it reached, and the whole)
    /// and `catalog_image_jobs_total`.
    fn record(&self, ended: Ended) {
        let (outcome, reason) = match ended {
            Ended::Ready => ("ready", "none"),
            Ended::Failed(class) => ("failed", class),
            Ended::Skipped => ("skipped", "none"),
            Ended::Retry => ("retry", "transient"),
        };
        metrics::counter!("catalog_image_jobs_total", "outcome" => outcome, "reason" => reason)
            .increment(1);
        if matches!(ended, Ended::Skipped) {
            return;
        }
        let total = ("total", self.started.elapsed());
        for (stage, time) in self.each().into_iter().chain([total]) {
            metrics::histogram!("catalog_image_job_seconds", "stage" => stage, "outcome" => outcome)
                .record(time.as_secs_f64());
        }
    }
}

pub(crate) fn variant_key(prefix: &str, name: VariantName, content_type: &str) -> String {
    let extension = match content_type {
        "image/png" => "png",
        "image/webp" => "webp",
        "image/avif" => "avif",
        _ => "jpg",
    };
    format!("{prefix}/{name}.{extension}")
}
