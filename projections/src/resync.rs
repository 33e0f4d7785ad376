//! The resync: folds every photo from the event store, compares it with the read model, and
//! repairs what differs; removes items of photos the event store does not know. It also hands
//! photos ready for an hour without their AVIF to the image processor, as `catalog backfill`
//! does, so that no photo stays without one.
//!
//! It is safe to run beside the projector: it reads in batches (event rows streamed in photo
//! order, `BatchGetItem` of 100 items, `Scan` pages of keys), writes only what drifted, and
//! every write is guarded by version like the projector's ([`Guard::OlderOrSame`]: a damaged
//! item at the same version is repaired; a newer one the projector just wrote is left alone).
//! An orphan is deleted only if its version did not move and the event store, asked for that
//! page of the scan, does not know the photo.
//!
//! Its memory does not grow with the catalog: it holds one batch of photos and one page of the
//! scan at a time. A photo it cannot repair (an event that cannot be read, an item DynamoDB
//! refuses) is reported, with the reason, and skipped; the rest are repaired, and the report
//! counts what was skipped (the command exits non-zero then). Only an unreachable database or
//! table stops it.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use catalog_event_store::aggregate::{PhotoCommand, PhotoServices};
use catalog_event_store::store::PhotoStore;
use catalog_event_store::store::read::{self, Photos};
use catalog_events::{AVIF, PhotoState};
use catalog_read_model::{Item, PHOTO_ID, PROJECTED_AT, VERSION};
use futures_util::StreamExt;
use sqlx::PgPool;

use crate::item::{self, Guard, Written};

/// How long a ready photo's AVIF is awaited before the resync asks for it: the AVIF lane
/// makes it within seconds, or minutes under load.
const AVIF_AWAITED: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Items asked for in one `BatchGetItem` (DynamoDB's limit).
const BATCH_GET: usize = 100;

/// What a resync found and did (or, in a dry run, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Photos folded from the event store.
    pub scanned: u64,
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub unchanged: u64,
    /// Photos it could not repair (each logged with its reason).
    pub skipped: u64,
    /// DynamoDB calls made, reads and writes.
    pub dynamodb_calls: u64,
    /// Photos ready for over an hour whose AVIF was never settled (a processor stopped
    /// between their `ready` and their AVIF, or they were rendered before AVIF existed).
    pub lacking_avif: u64,
    /// Those of them handed to the image processor now (none in a dry run).
    pub avif_requested: u64,
    /// The photos created, updated or deleted (or that would be), the first [`CHANGES_KEPT`].
    pub changed: Vec<String>,
}

/// Changed photos a report names; past these it only counts.
pub const CHANGES_KEPT: usize = 10_000;

impl Report {
    fn changed(&mut self, photo: &str) {
        if self.changed.len() < CHANGES_KEPT {
            self.changed.push(photo.to_owned());
        }
    }

    /// Photos created, updated or deleted.
    pub fn changes(&self) -> u64 {
        self.created + self.updated + self.deleted
    }

    /// Logs the report as one line an alarm reads (`resync finished`, with `checked`,
    /// `repaired` and `skipped`), sets `catalog_resync_photos`, and marks a run with nothing
    /// skipped as the last success.
    pub fn record(&self) {
        let repaired = self.changes();
        tracing::info!(
            checked = self.scanned,
            repaired,
            skipped = self.skipped,
            lacking_avif = self.lacking_avif,
            avif_requested = self.avif_requested,
            "resync finished"
        );
        for (result, count) in [
            ("checked", self.scanned),
            ("repaired", repaired),
            ("skipped", self.skipped),
            ("lacking_avif", self.lacking_avif),
        ] {
            #[allow(clippy::cast_precision_loss)] // counts far below 2^52
            metrics::gauge!("catalog_resync_photos", "result" => result).set(count as f64);
        }
        if self.skipped == 0 {
            crate::finished("resync");
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scanned {}, created {}, updated {}, deleted {}, unchanged {}, skipped {} ({} DynamoDB calls); \
             lacking their AVIF {}, handed to the image processor {}",
            self.scanned,
            self.created,
            self.updated,
            self.deleted,
            self.unchanged,
            self.skipped,
            self.dynamodb_calls,
            self.lacking_avif,
            self.avif_requested
        )
    }
}

/// Repairs the read model in `table` from the event store (changes nothing when `dry_run`).
pub async fn resync(
    pool: &PgPool,
    dynamodb: &Client,
    table: &str,
    dry_run: bool,
) -> anyhow::Result<Report> {
    let mut resync = Resync {
        dynamodb,
        table,
        dry_run,
        store: PhotoStore::new(pool.clone(), PhotoServices::default()),
        report: Report::default(),
    };
    let mut photos = std::pin::pin!(read::latest(pool, Photos::All));
    let mut batch: Vec<PhotoState> = Vec::with_capacity(BATCH_GET);
    while let Some(state) = photos.next().await {
        let state = match state {
            Ok(state) => state,
            Err(error) => match error.event() {
                Some((photo, _)) => {
                    resync.skip(photo, &error);
                    continue;
                }
                None => return Err(error.into()),
            },
        };
        batch.push(state);
        if batch.len() == BATCH_GET {
            resync.compare(std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        resync.compare(batch).await?;
    }
    resync.remove_orphans(pool).await?;
    Ok(resync.report)
}

struct Resync<'a> {
    dynamodb: &'a Client,
    table: &'a str,
    dry_run: bool,
    /// Where photos lacking their AVIF are handed to the image processor.
    store: PhotoStore,
    report: Report,
}

impl Resync<'_> {
    /// Reports a photo it cannot repair, and goes on.
    fn skip(&mut self, photo: &str, reason: &dyn std::fmt::Display) {
        self.report.skipped += 1;
        tracing::error!(%photo, %reason, "resync: skipped a photo it cannot repair");
    }

    /// Hands a photo ready for over [`AVIF_AWAITED`] without its AVIF settled to the image
    /// processor (`PhotoFormatsRequested`), unless this is a dry run. A failure is logged: the
    /// next resync asks again.
    async fn hand_over_avif(&mut self, state: &PhotoState) {
        let awaited = chrono::Utc::now() - state.in_status_since();
        if !state.lacks(AVIF) || awaited < AVIF_AWAITED {
            return;
        }
        self.report.lacking_avif += 1;
        if self.dry_run {
            return;
        }
        let command = PhotoCommand::RequestFormats {
            formats: vec![AVIF.to_owned()],
        };
        match self
            .store
            .execute(state.photo_id, command, "catalog resync")
            .await
        {
            Ok(after) if after.version > state.version => self.report.avif_requested += 1,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(photo = %state.photo_id, %error, "resync: could not ask for a photo's AVIF");
            }
        }
    }

    /// Compares one batch of folded photos with their items and repairs the differences.
    async fn compare(&mut self, photos: Vec<PhotoState>) -> anyhow::Result<()> {
        let stored = self.batch_get(&photos).await?;
        for state in photos {
            let id = state.photo_id.to_string();
            self.report.scanned += 1;
            self.hand_over_avif(&state).await;
            let expected = match catalog_read_model::encode(&state) {
                Ok(expected) => expected,
                Err(error) => {
                    self.skip(&id, &error);
                    continue;
                }
            };
            let current = stored.get(&id);
            if current == Some(&expected)
                || current.and_then(catalog_read_model::version) > Some(state.version)
            {
                self.report.unchanged += 1;
                continue;
            }
            if !self.dry_run {
                self.report.dynamodb_calls += 1;
                let written =
                    match item::put(self.dynamodb, self.table, &state, Guard::OlderOrSame).await {
                        Ok(written) => written,
                        Err(error) => {
                            self.skip(&id, &error);
                            continue;
                        }
                    };
                if written == Written::Superseded {
                    self.report.unchanged += 1;
                    continue;
                }
            }
            if current.is_some() {
                self.report.updated += 1;
            } else {
                self.report.created += 1;
            }
            self.report.changed(&id);
        }
        Ok(())
    }

    async fn batch_get(&mut self, photos: &[PhotoState]) -> anyhow::Result<HashMap<String, Item>> {
        let keys = photos
            .iter()
            .map(|state| {
                HashMap::from([(
                    PHOTO_ID.to_owned(),
                    AttributeValue::S(state.photo_id.to_string()),
                )])
            })
            .collect();
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()?,
        );
        let mut found = HashMap::new();
        while let Some(request) = pending.take() {
            self.report.dynamodb_calls += 1;
            let answer = self
                .dynamodb
                .batch_get_item()
                .request_items(self.table, request)
                .send()
                .await?;
            for item in answer
                .responses
                .and_then(|mut r| r.remove(self.table))
                .unwrap_or_default()
            {
                // When it was written is not part of the photo: compared without it.
                let mut item = item;
                item.remove(PROJECTED_AT);
                if let Some(AttributeValue::S(id)) = item.get(PHOTO_ID) {
                    found.insert(id.clone(), item);
                }
            }
            pending = answer
                .unprocessed_keys
                .and_then(|mut unprocessed| unprocessed.remove(self.table))
                .filter(|rest| !rest.keys.is_empty());
        }
        Ok(found)
    }

    /// Deletes the items of photos the event store does not know, a page of the scan at a time.
    async fn remove_orphans(&mut self, pool: &PgPool) -> anyhow::Result<()> {
        let mut pages = self
            .dynamodb
            .scan()
            .table_name(self.table)
            .projection_expression("#id, #version")
            .expression_attribute_names("#id", PHOTO_ID)
            .expression_attribute_names("#version", VERSION)
            .into_paginator()
            .send();
        while let Some(page) = pages.try_next().await? {
            self.report.dynamodb_calls += 1;
            let listed: Vec<(String, String)> = page
                .items
                .unwrap_or_default()
                .into_iter()
                .filter_map(|found| match (found.get(PHOTO_ID), found.get(VERSION)) {
                    (Some(AttributeValue::S(id)), Some(AttributeValue::N(version))) => {
                        Some((id.clone(), version.clone()))
                    }
                    _ => None,
                })
                .collect();
            let ids: Vec<String> = listed.iter().map(|(id, _)| id.clone()).collect();
            let known = read::known(pool, &ids).await?;
            for (id, version) in listed.into_iter().filter(|(id, _)| !known.contains(id)) {
                self.remove_orphan(id, version).await?;
            }
        }
        Ok(())
    }

    /// Deletes an orphan's item, unless its version moved since it was listed.
    async fn remove_orphan(&mut self, id: String, version: String) -> anyhow::Result<()> {
        if !self.dry_run {
            self.report.dynamodb_calls += 1;
            let deleted = self
                .dynamodb
                .delete_item()
                .table_name(self.table)
                .key(PHOTO_ID, AttributeValue::S(id.clone()))
                .condition_expression("#version = :version")
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(":version", AttributeValue::N(version))
                .send()
                .await;
            if let Err(error) = deleted {
                let moved = error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception());
                anyhow::ensure!(moved, "deleting orphan {id}: {error}");
                return Ok(());
            }
        }
        self.report.deleted += 1;
        self.report.changed(&id);
        Ok(())
    }
}
