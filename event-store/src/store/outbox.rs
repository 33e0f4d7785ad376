//! How far the outbox is behind the event store: the events stored and not yet on the bus
//! (neither published nor set aside), and the age of the oldest of them. The write API
//! measures it ([`watch`]), so the signal that the relay stalled keeps coming when the relay
//! itself is down.

use std::time::Duration;

use sqlx::PgPool;

/// How often [`watch`] measures.
const EVERY: Duration = Duration::from_secs(5);

/// The outbox's backlog at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    pub events: i64,
    /// Seconds since the oldest of them was stored (0 when there is none).
    pub oldest_secs: f64,
}

/// The backlog now (read through the partial index of unpublished events).
pub async fn backlog(pool: &PgPool) -> Result<Backlog, sqlx::Error> {
    let (events, oldest_secs): (i64, f64) = sqlx::query_as(
        "SELECT count(*), \
                COALESCE(EXTRACT(EPOCH FROM now() - min(recorded_at)), 0)::float8 \
         FROM events WHERE published_at IS NULL AND quarantined_at IS NULL",
    )
    .fetch_one(pool)
    .await?;
    Ok(Backlog {
        events,
        oldest_secs,
    })
}

/// Keeps `catalog_outbox_oldest_unpublished_seconds` and `catalog_outbox_unpublished_events`
/// current, measuring every few seconds until the pool closes.
pub async fn watch(pool: PgPool) {
    while !pool.is_closed() {
        match backlog(&pool).await {
            Ok(backlog) => {
                metrics::gauge!("catalog_outbox_oldest_unpublished_seconds")
                    .set(backlog.oldest_secs);
                #[allow(clippy::cast_precision_loss)] // a count far below 2^52
                metrics::gauge!("catalog_outbox_unpublished_events").set(backlog.events as f64);
            }
            Err(error) => tracing::warn!(%error, "could not measure the outbox's backlog"),
        }
        tokio::time::sleep(EVERY).await;
    }
}
