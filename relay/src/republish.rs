//! Events published again: a bus or its queues that lost what they held (a local stand-in that
//! died between two of its snapshots, a queue purged by mistake) get them back from the
//! outbox. Every event the relay published since a moment is marked unpublished again, and
//! the relay sends them once more, in commit order as ever. Consumers are idempotent by the
//! photo's version, so what they already had is acknowledged and changes nothing.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Hands every event published at or after `since` back to the relay; returns how many.
pub async fn since(pool: &PgPool, since: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let republished = sqlx::query(
        "UPDATE events SET published_at = NULL \
         WHERE published_at >= $1 AND quarantined_at IS NULL",
    )
    .bind(since)
    .execute(pool)
    .await?;
    Ok(republished.rows_affected())
}
