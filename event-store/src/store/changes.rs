//! What the event store tells about the past: a seller's change feed, and a photo as it was
//! at a moment.
//!
//! The feed is a seller's events in the order the outbox relay publishes them: by transaction,
//! then position, and only those of transactions older than every one still running
//! (`pg_snapshot_xmin`). A transaction still running can only commit events that sort after
//! everything the feed has shown, so a reader that resumes from the last position it saw never
//! misses one committed late (`migrations/0010_change_feed.sql` keeps each row's seller and
//! the index this reads). Each change carries its photo's state after it, folded by
//! [`read::at`] from the photo's snapshot, like the relay's envelopes.

use std::collections::{HashMap, HashSet};

use catalog_events::PhotoState;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use uuid::Uuid;

use super::read::{self, FoldedEvent, Photos, Start};
use super::{CommandError, PhotoStore};

/// One change of a seller's feed.
#[derive(Debug, Clone)]
pub struct Change {
    /// The event's position in the event store: where a reader resumes.
    pub position: i64,
    pub event: FoldedEvent,
}

/// A page of a seller's feed.
#[derive(Debug, Clone)]
pub struct ChangesPage {
    pub changes: Vec<Change>,
    /// Whether committed changes follow the last of this page.
    pub more: bool,
}

/// A photo at a moment, beside the photo now.
#[derive(Debug, Clone)]
pub struct AsOf {
    /// The photo folded up to its last event at or before the moment (`None`: it did not exist
    /// yet).
    pub then: Option<PhotoState>,
    pub now: PhotoState,
}

fn store_error(error: impl std::error::Error + Send + Sync + 'static) -> CommandError {
    CommandError::Store(error.into())
}

impl PhotoStore {
    /// The seller's changes after the one at `after` (from the first without), at most
    /// `limit`. `None` if `after` is not the position of one of the seller's changes.
    pub async fn changes(
        &self,
        seller_id: &str,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<ChangesPage>, CommandError> {
        let mut connection = self.pool.acquire().await?;
        let cursor = match after {
            None => None,
            Some(position) => {
                let found: Option<(String, i64)> = sqlx::query_as(
                    "SELECT transaction_id::text, position FROM events \
                     WHERE position = $1 AND seller_id = $2",
                )
                .bind(position)
                .bind(seller_id)
                .fetch_optional(&mut *connection)
                .await?;
                let Some(found) = found else {
                    return Ok(None);
                };
                Some(found)
            }
        };
        // Before every change: no transaction id is below 1.
        let (transaction, position) = cursor.unwrap_or_else(|| ("0".to_owned(), 0));
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT position, aggregate_id, sequence FROM events \
             WHERE seller_id = $1 \
               AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
               AND (transaction_id, position) > ($2::text::xid8, $3) \
             ORDER BY transaction_id, position LIMIT $4",
        )
        .bind(seller_id)
        .bind(transaction)
        .bind(position)
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *connection)
        .await?;
        let more = rows.len() > limit as usize;
        let rows = &rows[..rows.len().min(limit as usize)];
        let wanted: Vec<(String, u64)> = rows
            .iter()
            .map(|(_, photo, sequence)| (photo.clone(), u64::try_from(*sequence).unwrap_or(0)))
            .collect();
        let found = read::at(&mut connection, &wanted)
            .await
            .map_err(store_error)?;
        if let Some(error) = found.unreadable.into_iter().next() {
            return Err(store_error(error));
        }
        let mut folded: HashMap<(String, u64), FoldedEvent> = found
            .events
            .into_iter()
            .map(|event| ((event.photo_id.to_string(), event.sequence), event))
            .collect();
        let changes = rows
            .iter()
            .zip(wanted)
            .filter_map(|((position, _, _), key)| {
                folded.remove(&key).map(|event| Change {
                    position: *position,
                    event,
                })
            })
            .collect();
        Ok(Some(ChangesPage { changes, more }))
    }

    /// The photo as its events up to `moment` made it, beside the photo now; `None` if the
    /// photo was never requested.
    pub async fn as_of(
        &self,
        photo_id: Uuid,
        moment: DateTime<Utc>,
    ) -> Result<Option<AsOf>, CommandError> {
        let starts = [Start::first(photo_id.to_string())];
        let mut events = std::pin::pin!(read::events(&self.pool, Photos::These(&starts)));
        let mut then = None;
        let mut now = None;
        while let Some(folded) = events.try_next().await.map_err(store_error)? {
            if folded.event.occurred_at() <= moment {
                then = Some(folded.after.clone());
            }
            now = Some(folded.after);
        }
        Ok(now.map(|now| AsOf { then, now }))
    }

    /// The photo as it was at `version` (after that event); `None` if it has no such event.
    pub async fn at_version(
        &self,
        photo_id: Uuid,
        version: u64,
    ) -> Result<Option<PhotoState>, CommandError> {
        let mut connection = self.pool.acquire().await?;
        let found = read::at(&mut connection, &[(photo_id.to_string(), version)])
            .await
            .map_err(store_error)?;
        if let Some(error) = found.unreadable.into_iter().next() {
            return Err(store_error(error));
        }
        Ok(found.events.into_iter().next().map(|event| event.after))
    }

    /// Which of `photo_ids` are deleted now.
    pub async fn deleted(&self, photo_ids: &[String]) -> Result<HashSet<String>, CommandError> {
        let deleted: Vec<String> = sqlx::query_scalar(
            "SELECT aggregate_id FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = ANY($2) AND event_type = 'PhotoDeleted'",
        )
        .bind(catalog_events::AGGREGATE_TYPE)
        .bind(photo_ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(deleted.into_iter().collect())
    }
}
