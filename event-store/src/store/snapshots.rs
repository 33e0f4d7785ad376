//! Snapshots: a photo's state at a sequence, kept so that loading the photo reads the snapshot
//! and only the events after it, however many the photo has. A command's cost no longer grows
//! with the photo's age (a seller looping over PATCH leaves thousands of events).
//!
//! A snapshot is derived data: it is written after the events it covers are committed, only
//! ever replaced by a newer one, and never trusted over the events: one that does not read
//! (an older shape of the state) is ignored, and the photo is folded from its first event.

use catalog_events::PhotoState;
use sqlx::{PgExecutor, PgPool};

/// A photo gets a new snapshot once this many events follow its last one.
pub const EVERY: u64 = 100;

/// A photo's state and the sequence it is at.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub sequence: u64,
    pub state: PhotoState,
}

/// The photo's snapshot, if it has one that reads.
pub async fn latest<'e>(
    executor: impl PgExecutor<'e>,
    photo_id: &str,
) -> Result<Option<Snapshot>, sqlx::Error> {
    let row: Option<(i64, serde_json::Value)> =
        sqlx::query_as("SELECT sequence, state FROM photo_snapshots WHERE photo_id = $1")
            .bind(photo_id)
            .fetch_optional(executor)
            .await?;
    Ok(row.and_then(|(sequence, state)| read(photo_id, sequence, state)))
}

/// The snapshots of `photo_ids` taken before the sequence given beside each, by photo.
pub async fn before<'e>(
    executor: impl PgExecutor<'e>,
    photo_ids: &[String],
    sequences: &[i64],
) -> Result<Vec<(String, Snapshot)>, sqlx::Error> {
    let rows: Vec<(String, i64, serde_json::Value)> = sqlx::query_as(
        "SELECT s.photo_id, s.sequence, s.state \
         FROM photo_snapshots s JOIN UNNEST($1::text[], $2::bigint[]) AS w(photo_id, before) \
           ON s.photo_id = w.photo_id AND s.sequence < w.before",
    )
    .bind(photo_ids)
    .bind(sequences)
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, sequence, state)| {
            read(&id, sequence, state).map(|snapshot| (id, snapshot))
        })
        .collect())
}

/// Keeps `state` as the photo's snapshot, unless a newer one is kept already. A failure costs
/// only speed, so it is logged, not returned.
pub async fn save(pool: &PgPool, state: &PhotoState) {
    let Ok(json) = serde_json::to_value(state) else {
        return;
    };
    let saved = sqlx::query(
        "INSERT INTO photo_snapshots (photo_id, sequence, state) VALUES ($1, $2, $3) \
         ON CONFLICT (photo_id) DO UPDATE SET sequence = EXCLUDED.sequence, \
           state = EXCLUDED.state, taken_at = now() \
         WHERE photo_snapshots.sequence < EXCLUDED.sequence",
    )
    .bind(state.photo_id.to_string())
    .bind(i64::try_from(state.version).unwrap_or(i64::MAX))
    .bind(json)
    .execute(pool)
    .await;
    if let Err(error) = saved {
        tracing::warn!(photo_id = %state.photo_id, %error, "could not keep a snapshot");
    }
}

fn read(photo_id: &str, sequence: i64, state: serde_json::Value) -> Option<Snapshot> {
    match serde_json::from_value::<PhotoState>(state) {
        Ok(state) if state.version == u64::try_from(sequence).ok()? => Some(Snapshot {
            sequence: state.version,
            state,
        }),
        Ok(_) => None,
        Err(error) => {
            tracing::info!(%photo_id, %error, "a snapshot of an older shape is ignored");
            None
        }
    }
}
