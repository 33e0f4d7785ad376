//! The resync: folds every photo from the event store, compares it with the read model, and
//! repairs what differs; removes items of photos the event store does not know.
//!
//! It is safe to run beside the projector: it reads in batches (event rows streamed in photo
//! order, `BatchGetItem` of 100 items, `Scan` pages of keys), writes only what drifted, and
//! every write is guarded by version like the projector's ([`Guard::OlderOrSame`]: a damaged
//! item at the same version is repaired; a newer one the projector just wrote is left alone).
//! An orphan is deleted only if its version did not move and the event store, asked again
//! right before, still does not know the photo.

use std::collections::{HashMap, HashSet};
use std::fmt;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use catalog_events::PhotoState;
use catalog_read_model::{Item, PHOTO_ID, VERSION};
use catalog_write_side::store::read::{self, Photos};
use futures_util::TryStreamExt;
use sqlx::PgPool;

use crate::item::{self, Guard, Written};

/// Items asked for in one `BatchGetItem` (DynamoDB's limit).
const BATCH_GET: usize = 100;

/// What a resync found and did (or, in a dry run, would do).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Photos folded from the event store.
    pub scanned: u64,
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub unchanged: u64,
    /// DynamoDB calls made, reads and writes.
    pub dynamodb_calls: u64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scanned {}, created {}, updated {}, deleted {}, unchanged {} ({} DynamoDB calls)",
            self.scanned,
            self.created,
            self.updated,
            self.deleted,
            self.unchanged,
            self.dynamodb_calls
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
        report: Report::default(),
        known: HashSet::new(),
    };
    let mut photos = std::pin::pin!(read::latest(pool, Photos::All));
    let mut batch: Vec<PhotoState> = Vec::with_capacity(BATCH_GET);
    while let Some(state) = photos.try_next().await? {
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
    report: Report,
    known: HashSet<String>,
}

impl Resync<'_> {
    /// Compares one batch of folded photos with their items and repairs the differences.
    async fn compare(&mut self, photos: Vec<PhotoState>) -> anyhow::Result<()> {
        let stored = self.batch_get(&photos).await?;
        for state in photos {
            let id = state.photo_id.to_string();
            self.report.scanned += 1;
            let expected = catalog_read_model::encode(&state)?;
            let current = stored.get(&id);
            self.known.insert(id);
            if current == Some(&expected)
                || current.and_then(catalog_read_model::version) > Some(state.version)
            {
                self.report.unchanged += 1;
                continue;
            }
            if !self.dry_run {
                self.report.dynamodb_calls += 1;
                let written = item::put(self.dynamodb, self.table, &state, Guard::OlderOrSame)
                    .await
                    .map_err(|error| anyhow::anyhow!("repairing {}: {error}", state.photo_id))?;
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

    /// Deletes the items of photos the event store does not know.
    async fn remove_orphans(&mut self, pool: &PgPool) -> anyhow::Result<()> {
        let mut candidates: Vec<(String, String)> = Vec::new();
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
            for found in page.items.unwrap_or_default() {
                if let (Some(AttributeValue::S(id)), Some(AttributeValue::N(version))) =
                    (found.get(PHOTO_ID), found.get(VERSION))
                    && !self.known.contains(id)
                {
                    candidates.push((id.clone(), version.clone()));
                }
            }
        }
        if candidates.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = candidates.iter().map(|(id, _)| id.clone()).collect();
        let now_known = read::known(pool, &ids).await?;
        for (id, version) in candidates
            .into_iter()
            .filter(|(id, _)| !now_known.contains(id))
        {
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
                    continue;
                }
            }
            self.report.deleted += 1;
        }
        Ok(())
    }
}
