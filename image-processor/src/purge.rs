//! A deleted photo's files go: its original (with whatever metadata it carried, GPS
//! included), every version of it the versioned originals bucket keeps, and every variant of
//! every attempt; in AWS the CDN forgets the variants' URLs, which then answer `404`. Its data
//! key goes too, if the write API could not delete it ([`catalog_event_store::personal`]).
//!
//! A replaced photo's previous files go the same way (`Job::PurgeReplaced`, after
//! `PhotoReplaced`): every original but the one it shows, every render's variants but those it
//! shows.
//!
//! A `Job::Purge` removes them only once the event store shows the photo deleted (a message
//! from elsewhere removes nothing); [`Purger`] is what removes them, and repeating it changes
//! nothing, so a purge that failed is simply run again.

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use catalog_events::PhotoStatus;
use uuid::Uuid;

use crate::{Outcome, Processor};

/// Keys removed per `DeleteObjects` call (S3's limit).
const PER_DELETE: usize = 1000;

/// The files of photos, and the CDN in front of the variants.
pub struct Purger {
    pub s3: aws_sdk_s3::Client,
    pub originals: String,
    pub variants: String,
    /// The CDN and its distribution, in AWS.
    pub cdn: Option<(aws_sdk_cloudfront::Client, String)>,
}

/// What of a photo's files a purge leaves.
#[derive(Debug, Default, Clone, Copy)]
pub struct Keep<'a> {
    /// The original the photo shows (`None`: the photo is deleted).
    pub original: Option<&'a str>,
    /// The folder of the variants it shows.
    pub folder: Option<&'a str>,
}

impl Purger {
    /// Removes the photo's files but those it `keep`s: every version of every original under
    /// `original_base` (`originals/<id>`, and each new one `originals/<id>.<n>`) and every
    /// variant of every render; asks the CDN to forget them. Repeating it changes nothing.
    pub async fn purge(
        &self,
        photo: Uuid,
        original_base: &str,
        keep: Keep<'_>,
    ) -> anyhow::Result<()> {
        let of_photo = |key: &str| {
            keep.original != Some(key)
                && (key == original_base
                    || key
                        .strip_prefix(original_base)
                        .is_some_and(|rest| rest.starts_with('.')))
        };
        let versions = self.remove_versions(original_base, of_photo).await?;
        let prefix = format!("variants/{photo}/");
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.variants)
            .prefix(&prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            keys.extend(
                page?
                    .contents
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|object| object.key)
                    .filter(|key| keep.folder.is_none_or(|kept| folder(key) != kept)),
            );
        }
        let objects = keys
            .iter()
            .map(|key| ObjectIdentifier::builder().key(key).build())
            .collect::<Result<Vec<_>, _>>()?;
        self.delete_each(&self.variants, objects).await?;
        if let Some((cdn, distribution)) = &self.cdn {
            let mut folders: Vec<String> = match keep.folder {
                None => vec![prefix.clone()],
                Some(_) => keys.iter().map(|key| format!("{}/", folder(key))).collect(),
            };
            folders.dedup();
            for gone in folders {
                self.invalidate(cdn, distribution, &gone).await?;
            }
        }
        tracing::info!(%photo, versions, variants = keys.len(), kept = ?keep, "a photo's files are gone");
        Ok(())
    }

    /// Removes every version and every delete marker of the originals under `base` for which
    /// `removed` holds: in a versioned bucket a delete only hides an object, and its bytes
    /// would stay until the lifecycle rule expired them. Returns how many it removed.
    async fn remove_versions(
        &self,
        base: &str,
        removed: impl Fn(&str) -> bool,
    ) -> anyhow::Result<usize> {
        let mut found = Vec::new();
        let mut markers: (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .s3
                .list_object_versions()
                .bucket(&self.originals)
                .prefix(base)
                .set_key_marker(markers.0.take())
                .set_version_id_marker(markers.1.take())
                .send()
                .await?;
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let deleted = page
                .delete_markers()
                .iter()
                .map(|m| (m.key(), m.version_id()));
            found.extend(versions.chain(deleted).filter_map(|(key, version)| {
                // The prefix matches other photos' keys too (a longer id): only `removed` ones go.
                let key = key.filter(|key| removed(key))?;
                Some((key.to_owned(), version?.to_owned()))
            }));
            if page.is_truncated() != Some(true) {
                break;
            }
            markers = (
                page.next_key_marker().map(str::to_owned),
                page.next_version_id_marker().map(str::to_owned),
            );
        }
        let objects = found
            .iter()
            .map(|(key, version)| {
                ObjectIdentifier::builder()
                    .key(key)
                    .version_id(version)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.delete_each(&self.originals, objects).await?;
        Ok(found.len())
    }

    /// Deletes `objects` from `bucket`, as many at once as S3 takes.
    async fn delete_each(
        &self,
        bucket: &str,
        objects: Vec<ObjectIdentifier>,
    ) -> anyhow::Result<()> {
        for chunk in objects.chunks(PER_DELETE) {
            let delete = Delete::builder()
                .set_objects(Some(chunk.to_vec()))
                .quiet(true)
                .build()?;
            self.s3
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await?;
        }
        Ok(())
    }

    async fn invalidate(
        &self,
        cdn: &aws_sdk_cloudfront::Client,
        distribution: &str,
        prefix: &str,
    ) -> anyhow::Result<()> {
        use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
        let paths = Paths::builder()
            .quantity(1)
            .items(format!("/{prefix}*"))
            .build()?;
        cdn.create_invalidation()
            .distribution_id(distribution)
            .invalidation_batch(
                InvalidationBatch::builder()
                    .paths(paths)
                    .caller_reference(prefix)
                    .build()?,
            )
            .send()
            .await?;
        Ok(())
    }
}

/// The folder of a variant's file: every file of one render shares it.
fn folder(key: &str) -> &str {
    key.rsplit_once('/').map_or("", |(folder, _)| folder)
}

impl Processor {
    /// Removes a deleted photo's files.
    pub(crate) async fn purge(&self, photo: Uuid) -> Outcome {
        match self.store.load(photo).await {
            Ok(Some(state)) if state.status == PhotoStatus::Deleted => {
                // The write API forgot the photo's personal fields as it deleted it; this is
                // in case it stopped before it could.
                let forgotten =
                    catalog_event_store::personal::forget(self.store.pool(), &photo.to_string())
                        .await;
                if let Err(error) = forgotten {
                    return Outcome::Retry(format!("forgetting the photo's data key: {error}"));
                }
                self.purging(photo, Keep::default()).await
            }
            // Not deleted (a message from elsewhere): nothing of it is removed.
            Ok(_) => Outcome::Done,
            Err(error) => Outcome::Retry(format!("{error:#}")),
        }
    }

    /// Removes what a replaced photo no longer shows: its previous originals and the
    /// variants of every render but the one it shows. Only while nothing is being rendered
    /// for it (a render in flight writes files not yet recorded); a photo deleted since is
    /// purged whole by its own job.
    pub(crate) async fn purge_replaced(&self, photo: Uuid) -> Outcome {
        match self.store.load(photo).await {
            Ok(Some(state))
                if state.status == PhotoStatus::Ready && state.replacement.is_none() =>
            {
                let shown = state
                    .variants
                    .values()
                    .next()
                    .map(|variant| folder(&variant.key));
                let keep = Keep {
                    original: Some(&state.object_key),
                    folder: shown,
                };
                self.purging(photo, keep).await
            }
            Ok(_) => Outcome::Done,
            Err(error) => Outcome::Retry(format!("{error:#}")),
        }
    }

    async fn purging(&self, photo: Uuid, keep: Keep<'_>) -> Outcome {
        let base = format!("{}{photo}", self.upload_prefix);
        match self.purger.purge(photo, &base, keep).await {
            Ok(()) => Outcome::Done,
            Err(error) => Outcome::Retry(format!("{error:#}")),
        }
    }
}
