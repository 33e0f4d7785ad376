//! A render: one photo's original turned into its stored variants, and the photo completed
//! (or failed with the seller's reason).
//!
//! The steps of a `Job::Render`, in order: start processing (a photo that moved on is left as
//! it is), download the original with a size cap and check its declared SHA-256, render on a
//! blocking thread within the memory budget ([`catalog_images::render`]), store the variants
//! in the variants bucket under a key of this attempt (immutable: a reprocess never changes
//! bytes behind a cached URL), complete the photo, and hand the pixels the render kept to the
//! lane of later formats (`later.rs`). All of it runs within the job's deadline while the
//! message is kept hidden.
//!
//! Here too are the variants bucket's writes and deletes and the keys of its files, which the
//! later formats share: an AVIF goes beside the variants it was made from, and files that
//! came after their photo moved on are removed the same way.

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use catalog_event_store::aggregate::{PhotoCommand, PhotoError};
use catalog_event_store::store::CommandError;
use catalog_events::{Placeholder, Variant, VariantFormat, VariantName};
use catalog_images::{Alternate, Rejection, Rendition};
use futures_util::future::try_join_all;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::later::Later;
use crate::{JOB_OVERHEAD_BYTES, Outcome, Processor};

/// Cache header of variants: their keys never change content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Bytes of memory a decoded pixel may take across the pipeline (source, resized copies).
const BYTES_PER_PIXEL: u64 = 8;

impl Processor {
    /// Renders a photo's variants, keeping its message invisible to others while it runs, up
    /// to the job's deadline.
    pub(crate) async fn render_photo(&self, photo: Uuid, receipt: &str) -> Outcome {
        let _hidden = self.queue.keep_hidden(receipt);
        match tokio::time::timeout(self.deadline, self.process(photo)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::warn!(%photo, deadline = ?self.deadline, "a job ran past its deadline");
                let reason = Rejection::TooSlow {
                    limit: humantime::format_duration(self.deadline).to_string(),
                };
                self.fail(photo, &reason.to_string(), &photo.to_string())
                    .await
            }
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
        let memory = self.reserve(bytes).await?;
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

pub(crate) fn variant_key(prefix: &str, name: VariantName, content_type: &str) -> String {
    let extension = match content_type {
        "image/png" => "png",
        "image/webp" => "webp",
        "image/avif" => "avif",
        _ => "jpg",
    };
    format!("{prefix}/{name}.{extension}")
}
