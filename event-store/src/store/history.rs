//! A photo's history, a page at a time: its events as stored (upcast to today's shape, their
//! personal fields opened), read straight from the event store. It reads the page and the
//! photo's first event (its owner) only, however long the history is.

use catalog_events::{PhotoEvent, upcast};
use uuid::Uuid;

use super::{CommandError, PhotoStore};
use crate::personal::{self, KeyError};

/// One stored event, as the history shows it.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub sequence: u64,
    /// The version the event was stored with (`event` is upcast to the current shape).
    pub event_version: String,
    pub event: PhotoEvent,
}

/// One row of a history page: an event, and the photo's sealed data key.
#[derive(sqlx::FromRow)]
struct HistoryRow {
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: serde_json::Value,
    data_key: Option<Vec<u8>>,
}

/// A page of a photo's history.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// The seller the photo belongs to.
    pub owner: String,
    pub events: Vec<StoredEvent>,
    /// Whether events follow the last of this page.
    pub more: bool,
}

impl PhotoStore {
    /// The photo's owner and a page of its events after `after`, oldest first: at most
    /// `limit`, and whether more follow. `None` if the photo was never requested. It reads the
    /// page and the first event only, however long the photo's history is.
    pub async fn history(
        &self,
        photo_id: Uuid,
        after: u64,
        limit: u32,
    ) -> Result<Option<HistoryPage>, CommandError> {
        let rows: Vec<HistoryRow> = sqlx::query_as(
            "SELECT sequence, event_type, event_version, payload, \
                    (SELECT sealed FROM photo_keys WHERE photo_id = $2) AS data_key \
             FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND (sequence = 1 OR sequence > $3) \
             ORDER BY sequence LIMIT $4",
        )
        .bind(catalog_events::AGGREGATE_TYPE)
        .bind(photo_id.to_string())
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::from(limit) + 2)
        .fetch_all(&self.pool)
        .await
        .map_err(|error| CommandError::Store(error.into()))?;
        let id = photo_id.to_string();
        let store_error = |error: KeyError| CommandError::Store(error.into());
        let key = match rows.first() {
            Some(row) => personal::data_key(&id, row.data_key.as_deref()).map_err(store_error)?,
            None => None,
        };
        let mut owner = None;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let (sequence, event_type, event_version, mut payload) =
                (row.sequence, row.event_type, row.event_version, row.payload);
            personal::open(&mut payload, &id, key.as_ref()).map_err(store_error)?;
            let event = upcast::decode(&event_type, &event_version, payload)
                .map_err(|error| CommandError::Store(error.into()))?;
            if let (1, PhotoEvent::PhotoUploadRequested(requested)) = (sequence, &event) {
                owner = Some(requested.seller_id.clone());
            }
            let sequence = u64::try_from(sequence).unwrap_or_default();
            if sequence > after {
                events.push(StoredEvent {
                    sequence,
                    event_version,
                    event,
                });
            }
        }
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        Ok(owner.map(|owner| HistoryPage {
            owner,
            events,
            more,
        }))
    }
}
