//! The blue/green rebuild of the read model, for a change of its layout (its keys, its
//! indexes): the table of the new layout is built beside the live one, from the event store,
//! and compared with both before anything reads from it.
//!
//! 1. Fill: a resync into the new table (every write guarded by version, so it is safe while a
//!    projector of the new layout already writes there).
//! 2. Check against the event store: a dry-run resync of the new table must find nothing to
//!    change.
//! 3. Compare with the previous table: the same photos at the same versions.
//!
//! A difference of a photo that changed in the event store while the round ran is movement,
//! not disagreement: the services carry it (the previous table's projector now, the new
//! table's after the switch, and a resync after the switch closes the gap between). Another
//! round (at most [`ROUNDS`]) is tried while differences remain that are not movement.
//!
//! It reports what it did (time, DynamoDB calls, each difference) and whether the two agree;
//! `catalog rebuild` exits non-zero unless they do, and the services are switched to the new
//! table only then (see the README's Operations). It can run again at any time: a second run
//! changes nothing that is right. It also reports products that photos of more than one
//! seller were stored under before products had owners: the first seller owns them.
//!
//! Its comparison holds the ids and versions of both tables in memory (about 200 bytes a
//! photo: 200 MB for a million); past some millions of photos it would need to compare page by
//! page.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use catalog_read_model::{PHOTO_ID, VERSION};
use sqlx::PgPool;

use crate::resync::{self, Report};

/// Fill-and-compare rounds before the rebuild gives up on catching up.
const ROUNDS: u32 = 3;
/// Differences listed by id in the report (the rest are counted).
const LISTED: usize = 10;

/// How the new table compares with the previous one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// Photos in both, at the same version.
    pub same: u64,
    /// Photos the new table has and the previous one does not.
    pub only_new: Vec<String>,
    /// Photos the previous table has and the new one does not.
    pub only_previous: Vec<String>,
    /// Photos in both, at different versions.
    pub versions_differ: Vec<String>,
    pub dynamodb_calls: u64,
}

impl Comparison {
    pub fn agrees(&self) -> bool {
        self.only_new.is_empty() && self.only_previous.is_empty() && self.versions_differ.is_empty()
    }
}

/// A product whose photos more than one seller stored before products had owners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedProduct {
    pub product_id: String,
    pub owner: String,
    pub others: Vec<String>,
}

/// What a rebuild did and found.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    pub rounds: u32,
    /// The fill of the last round.
    pub fill: Report,
    /// The dry run against the event store after it: nothing may be left to change.
    pub check: Report,
    /// `None` without a previous table.
    pub comparison: Option<Comparison>,
    /// Photos that differ only because they changed in the event store while the round ran.
    pub moving: Vec<String>,
    /// Differences that are not movement: the new table or the previous one is wrong there.
    pub disagreeing: Vec<String>,
    pub shared_products: Vec<SharedProduct>,
    pub elapsed: Duration,
    pub dynamodb_calls: u64,
}

impl Rebuilt {
    /// The new table holds what the event store says, and what the previous table holds, but
    /// for photos that moved while it ran.
    pub fn agrees(&self) -> bool {
        self.disagreeing.is_empty()
            && self.check.skipped == 0
            && self.check.changed.len() as u64 == self.check.changes()
    }
}

impl fmt::Display for Rebuilt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rebuilt in {:.1} s, {} round(s), {} DynamoDB calls",
            self.elapsed.as_secs_f64(),
            self.rounds,
            self.dynamodb_calls
        )?;
        writeln!(f, "last fill: {}", self.fill)?;
        writeln!(f, "against the event store: {}", self.check)?;
        match &self.comparison {
            None => writeln!(f, "no previous table to compare with")?,
            Some(comparison) => {
                let listed = |ids: &[String]| {
                    let mut shown = ids
                        .iter()
                        .take(LISTED)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ");
                    if ids.len() > LISTED {
                        shown.push_str(", …");
                    }
                    shown
                };
                writeln!(
                    f,
                    "against the previous table: {} the same, {} only in the new one [{}], \
                     {} only in the previous one [{}], {} at another version [{}]",
                    comparison.same,
                    comparison.only_new.len(),
                    listed(&comparison.only_new),
                    comparison.only_previous.len(),
                    listed(&comparison.only_previous),
                    comparison.versions_differ.len(),
                    listed(&comparison.versions_differ),
                )?;
            }
        }
        if !self.moving.is_empty() {
            writeln!(
                f,
                "{} photo(s) changed while it ran (the services carry them; run `catalog resync` \
                 once after the switch)",
                self.moving.len()
            )?;
        }
        if !self.disagreeing.is_empty() {
            let mut shown: Vec<&str> = self
                .disagreeing
                .iter()
                .take(LISTED)
                .map(String::as_str)
                .collect();
            if self.disagreeing.len() > LISTED {
                shown.push("…");
            }
            writeln!(
                f,
                "{} photo(s) differ without having changed: {}",
                self.disagreeing.len(),
                shown.join(", ")
            )?;
        }
        for shared in &self.shared_products {
            writeln!(
                f,
                "product {:?} is owned by {:?}; photos of it stored earlier by {:?} stay listed \
                 until deleted, and no new ones of theirs are taken",
                shared.product_id, shared.owner, shared.others
            )?;
        }
        write!(
            f,
            "{}",
            if self.agrees() {
                "the tables agree: the services may switch to the new table"
            } else {
                "the tables DISAGREE: do not switch"
            }
        )
    }
}

/// Builds the read model in `table` from the event store and compares it with `previous`.
pub async fn rebuild(
    pool: &PgPool,
    dynamodb: &Client,
    table: &str,
    previous: Option<&str>,
) -> anyhow::Result<Rebuilt> {
    let started = Instant::now();
    let mut dynamodb_calls = 0;
    let mut rounds = 0;
    loop {
        rounds += 1;
        let round_began: chrono::DateTime<chrono::Utc> =
            sqlx::query_scalar("SELECT now()").fetch_one(pool).await?;
        let fill = resync::resync(pool, dynamodb, table, false).await?;
        let check = resync::resync(pool, dynamodb, table, true).await?;
        dynamodb_calls += fill.dynamodb_calls + check.dynamodb_calls;
        let comparison = match previous {
            Some(previous) => {
                let comparison = compare(dynamodb, table, previous).await?;
                dynamodb_calls += comparison.dynamodb_calls;
                Some(comparison)
            }
            None => None,
        };
        let mut differing: Vec<String> = check.changed.clone();
        if let Some(comparison) = &comparison {
            differing.extend(comparison.only_new.iter().cloned());
            differing.extend(comparison.only_previous.iter().cloned());
            differing.extend(comparison.versions_differ.iter().cloned());
        }
        differing.sort_unstable();
        differing.dedup();
        let moved = changed_since(pool, &differing, round_began).await?;
        let (moving, disagreeing) = differing
            .into_iter()
            .partition(|photo| moved.contains(photo));
        let mut rebuilt = Rebuilt {
            rounds,
            fill,
            check,
            comparison,
            moving,
            disagreeing,
            shared_products: Vec::new(),
            elapsed: started.elapsed(),
            dynamodb_calls,
        };
        if rebuilt.agrees() || rounds == ROUNDS {
            rebuilt.shared_products = shared_products(pool).await?;
            rebuilt.elapsed = started.elapsed();
            return Ok(rebuilt);
        }
        // Let a projector of the previous table catch up on what moved meanwhile.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Which of `photos` have an event recorded since `since`.
async fn changed_since(
    pool: &PgPool,
    photos: &[String],
    since: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<std::collections::HashSet<String>> {
    if photos.is_empty() {
        return Ok(Default::default());
    }
    let moved: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT aggregate_id FROM events \
         WHERE aggregate_type = $1 AND aggregate_id = ANY($2) AND recorded_at >= $3",
    )
    .bind(catalog_events::AGGREGATE_TYPE)
    .bind(photos)
    .bind(since)
    .fetch_all(pool)
    .await?;
    Ok(moved.into_iter().collect())
}

/// Compares the photo ids and versions of two tables.
pub async fn compare(dynamodb: &Client, table: &str, previous: &str) -> anyhow::Result<Comparison> {
    let mut comparison = Comparison::default();
    let mut before = versions(dynamodb, previous, &mut comparison.dynamodb_calls).await?;
    let now = versions(dynamodb, table, &mut comparison.dynamodb_calls).await?;
    for (id, version) in now {
        match before.remove(&id) {
            Some(old) if old == version => comparison.same += 1,
            Some(_) => comparison.versions_differ.push(id),
            None => comparison.only_new.push(id),
        }
    }
    comparison.only_previous = before.into_keys().collect();
    for ids in [
        &mut comparison.only_new,
        &mut comparison.only_previous,
        &mut comparison.versions_differ,
    ] {
        ids.sort_unstable();
    }
    Ok(comparison)
}

/// Every photo's version in a table (a scan of keys and versions only).
async fn versions(
    dynamodb: &Client,
    table: &str,
    calls: &mut u64,
) -> anyhow::Result<HashMap<String, String>> {
    let mut pages = dynamodb
        .scan()
        .table_name(table)
        .projection_expression("#id, #version")
        .expression_attribute_names("#id", PHOTO_ID)
        .expression_attribute_names("#version", VERSION)
        .into_paginator()
        .send();
    let mut versions = HashMap::new();
    while let Some(page) = pages.try_next().await? {
        *calls += 1;
        for item in page.items.unwrap_or_default() {
            if let (Some(AttributeValue::S(id)), Some(AttributeValue::N(version))) =
                (item.get(PHOTO_ID), item.get(VERSION))
            {
                versions.insert(id.clone(), version.clone());
            }
        }
    }
    Ok(versions)
}

/// Products that more than one seller stored photos of (before products had owners).
async fn shared_products(pool: &PgPool) -> anyhow::Result<Vec<SharedProduct>> {
    let rows: Vec<(String, String, Vec<String>)> = sqlx::query_as(
        "SELECT p.product_id, p.seller_id, \
                array_agg(DISTINCT e.payload->>'seller_id') FILTER (WHERE e.payload->>'seller_id' <> p.seller_id) \
         FROM events e JOIN products p ON p.product_id = e.payload->>'product_id' \
         WHERE e.aggregate_type = $1 AND e.event_type = 'PhotoUploadRequested' \
         GROUP BY p.product_id, p.seller_id \
         HAVING count(DISTINCT e.payload->>'seller_id') > 1 \
         ORDER BY p.product_id",
    )
    .bind(catalog_events::AGGREGATE_TYPE)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(product_id, owner, others)| SharedProduct {
            product_id,
            owner,
            others,
        })
        .collect())
}
