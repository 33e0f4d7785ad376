//! Events set aside because they can never be published: the relay sets them aside, operators
//! list them (`catalog quarantined`) and, once what stopped them is fixed (a release that
//! reads an old event, say), hand them back to the relay (`catalog quarantined --release`).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// An event set aside.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Quarantined {
    pub photo_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub quarantined_at: DateTime<Utc>,
    pub reason: String,
}

/// Sets the events at these positions aside, each with its reason.
pub async fn set_aside(
    transaction: &mut PgConnection,
    events: &[(i64, &str)],
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let (positions, reasons): (Vec<i64>, Vec<&str>) = events.iter().copied().unzip();
    sqlx::query(
        "UPDATE events SET quarantined_at = now(), quarantine_reason = q.reason \
         FROM UNNEST($1::bigint[], $2::text[]) AS q(position, reason) \
         WHERE events.position = q.position",
    )
    .bind(positions)
    .bind(reasons)
    .execute(transaction)
    .await?;
    Ok(())
}

/// Every event set aside, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<Quarantined>, sqlx::Error> {
    sqlx::query_as(
        "SELECT aggregate_id AS photo_id, sequence, event_type, quarantined_at, \
                COALESCE(quarantine_reason, '') AS reason \
         FROM events WHERE quarantined_at IS NOT NULL ORDER BY position",
    )
    .fetch_all(pool)
    .await
}

/// Hands every event set aside back to the relay; returns how many.
pub async fn release(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let released = sqlx::query(
        "UPDATE events SET quarantined_at = NULL, quarantine_reason = NULL \
         WHERE quarantined_at IS NOT NULL",
    )
    .execute(pool)
    .await?;
    Ok(released.rows_affected())
}
