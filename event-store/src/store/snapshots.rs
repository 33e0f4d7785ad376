//! Snapshots: a photo's state at a sequence, kept so that loading the photo reads the snapshot
//! and only the events after it, however many the photo has. A command's cost no longer grows
//! with the photo's age (a seller looping over PATCH leaves thousands of events).
//!
//! A snapshot is derived data: it is written after the events it covers are committed, only
//! ever replaced by a newer one, and never trusted over the events: one that does not read
//! (an older shape of the state) is ignored, and the photo is folded from its first event. Its
//! personal fields are sealed under the photo's data key, like the events' ([`personal`]).

use catalog_events::PhotoState;
use sqlx::{PgExecutor, PgPool};

use crate::personal::{self, DataKey, KeyError};

/// A photo gets a new snapshot once this many events follow its last one.
pub const EVERY: u64 = 100;

/// A photo's state and the sequence it is at.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub sequence: u64,
    pub state: PhotoState,
}

/// What loading a photo starts from: its data key, and its snapshot if it has one that reads.
#[derive(Debug, Default)]
pub struct Start {
    pub key: Option<DataKey>,
    pub snapshot: Option<Snapshot>,
}

/// The photo's data key and snapshot, in one round trip.
pub async fn latest<'e>(executor: impl PgExecutor<'e>, photo_id: &str) -> Result<Start, KeyError> {
    let row: (Option<Vec<u8>>, Option<i64>, Option<serde_json::Value>) = sqlx::query_as(
        "SELECT k.sealed, s.sequence, s.state FROM (SELECT $1::text AS id) AS p \
         LEFT JOIN photo_keys k ON k.photo_id = p.id \
         LEFT JOIN photo_snapshots s ON s.photo_id = p.id",
    )
    .bind(photo_id)
    .fetch_one(executor)
    .await?;
    let (sealed, sequence, state) = row;
    let key = personal::data_key(photo_id, sealed.as_deref())?;
    let snapshot = match (sequence, state) {
        (Some(sequence), Some(state)) => read(photo_id, sequence, state, key.as_ref()),
        _ => None,
    };
    Ok(Start { key, snapshot })
}

/// The snapshots of `photo_ids` taken before the sequence given beside each, by photo.
pub async fn before<'e>(
    executor: impl PgExecutor<'e>,
    photo_ids: &[String],
    sequences: &[i64],
) -> Result<Vec<(String, Snapshot)>, KeyError> {
    let rows: Vec<(String, i64, serde_json::Value, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT s.photo_id, s.sequence, s.state, k.sealed \
         FROM photo_snapshots s JOIN UNNEST($1::text[], $2::bigint[]) AS w(photo_id, before) \
           ON s.photo_id = w.photo_id AND s.sequence < w.before \
         LEFT JOIN photo_keys k ON k.photo_id = s.photo_id",
    )
    .bind(photo_ids)
    .bind(sequences)
    .fetch_all(executor)
    .await?;
    let mut snapshots = Vec::with_capacity(rows.len());
    for (id, sequence, state, sealed) in rows {
        let key = personal::data_key(&id, sealed.as_deref())?;
        if let Some(snapshot) = read(&id, sequence, state, key.as_ref()) {
            snapshots.push((id, snapshot));
        }
    }
    Ok(snapshots)
}

/// Keeps `state` as the photo's snapshot, its personal fields sealed under `key`, unless a
/// newer one is kept already. A failure costs only speed, so it is logged, not returned.
pub async fn save(pool: &PgPool, state: &PhotoState, key: Option<&DataKey>) {
    let Ok(mut json) = serde_json::to_value(state) else {
        return;
    };
    let photo_id = state.photo_id.to_string();
    if let Some(key) = key
        && let Err(error) = personal::seal(&mut json, &photo_id, key)
    {
        tracing::warn!(%photo_id, %error, "could not seal a snapshot; none is kept");
        return;
    }
    let saved = sqlx::query(
        "INSERT INTO photo_snapshots (photo_id, sequence, state) VALUES ($1, $2, $3) \
         ON CONFLICT (photo_id) DO UPDATE SET sequence = EXCLUDED.sequence, \
           state = EXCLUDED.state, taken_at = now() \
         WHERE photo_snapshots.sequence < EXCLUDED.sequence",
    )
    .bind(&photo_id)
    .bind(i64::try_from(state.version).unwrap_or(i64::MAX))
    .bind(json)
    .execute(pool)
    .await;
    if let Err(error) = saved {
        tracing::warn!(%photo_id, %error, "could not keep a snapshot");
    }
}

fn read(
    photo_id: &str,
    sequence: i64,
    mut state: serde_json::Value,
    key: Option<&DataKey>,
) -> Option<Snapshot> {
    if let Err(error) = personal::open(&mut state, photo_id, key) {
        tracing::warn!(%photo_id, %error, "a snapshot that does not open is ignored");
        return None;
    }
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
