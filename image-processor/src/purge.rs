//! A deleted photo's files go: its original (with whatever metadata it carried, GPS
//! included), every version of it the versioned originals bucket keeps, and every variant of
//! every attempt; in AWS the CDN forgets the variants' URLs, which then answer `404`. Its data
//! key goes too, if the write API could not delete it ([`catalog_event_store::personal`]).
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

impl Purger {
    /// Removes the photo's original (`original_key`) and its variants; asks the CDN to forget
    /// them. Repeating it changes nothing.
    pub async fn purge(&self, photo: uuid::Uuid, original_key: &str) -> anyhow::Result<()> {
        self.s3
            .delete_object()
            .bucket(&self.originals)
            .key(original_key)
            .send()
            .await?;
        let versions = self.remove_versions(original_key).await?;
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
                    .filter_map(|object| object.key),
            );
        }
        let objects = keys
            .iter()
            .map(|key| ObjectIdentifier::builder().key(key).build())
            .collect::<Result<Vec<_>, _>>()?;
        self.delete_each(&self.variants, objects).await?;
        if let Some((cdn, distribution)) = &self.cdn {
            self.invalidate(cdn, distribution, &prefix).await?;
        }
        tracing::info!(%photo, versions, variants = keys.len(), "a deleted photo's files are gone");
        Ok(())
    }

    /// Removes every version of the original and every delete marker of it: in a versioned
    /// bucket a delete only hides the object, and its bytes would stay until the lifecycle rule
    /// expired them. Returns how many it removed.
    async fn remove_versions(&self, key: &str) -> anyhow::Result<usize> {
        let mut found = Vec::new();
        let mut markers: (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .s3
                .list_object_versions()
                .bucket(&self.originals)
                .prefix(key)
                .set_key_marker(markers.0.take())
                .set_version_id_marker(markers.1.take())
                .send()
                .await?;
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let deleted = page
                .delete_markers()
                .iter()
                .map(|m| (m.key(), m.version_id()));
            found.extend(versions.chain(deleted).filter_map(|(of, version)| {
                // The prefix matches longer keys too; only this key's versions are the photo's.
                (of == Some(key))
                    .then_some(version)
                    .flatten()
                    .map(str::to_owned)
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
            .map(|version| {
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
                match self.purger.purge(photo, &state.object_key).await {
                    Ok(()) => Outcome::Done,
                    Err(error) => Outcome::Retry(format!("{error:#}")),
                }
            }
            // Not deleted (a message from elsewhere): nothing of it is removed.
            Ok(_) => Outcome::Done,
            Err(error) => Outcome::Retry(format!("{error:#}")),
        }
    }
}
