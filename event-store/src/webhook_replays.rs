//! Replays of a seller's webhooks (`POST /v1/webhooks/replay`): the record of each, which the
//! write API creates and reads and the notifier works through (`migrations/0012_webhook_replays.sql`).
//!
//! A replay is taken by one notifier at a time under a lease that each step renews: a
//! notifier that stops leaves it, and another takes it up from its cursor once the lease ran
//! out. A seller has at most one unfinished replay.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// How long a notifier holds a replay without renewing its lease.
pub const LEASE_SECS: i32 = 30;

/// One replay and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Replay {
    pub replay_id: Uuid,
    pub seller_id: String,
    /// Webhooks of state changes that occurred at or after this are sent again.
    pub since: DateTime<Utc>,
    /// When it was asked for: changes after it were announced as they happened.
    pub created_at: DateTime<Utc>,
    /// The position of the last change of the seller's feed it went past.
    pub cursor: Option<i64>,
    /// Webhooks it found to send again, those delivered, and those it gave up on.
    pub found: i32,
    pub delivered: i32,
    pub failed: i32,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Why a replay was not started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("a replay of this seller's webhooks is running already")]
    Running(Box<Replay>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

const COLUMNS: &str =
    "replay_id, seller_id, since, created_at, cursor, found, delivered, failed, finished_at";

/// Starts a replay of `seller`'s webhooks since `since`.
pub async fn start(
    pool: &PgPool,
    seller: &str,
    since: DateTime<Utc>,
) -> Result<Replay, StartError> {
    let inserted = sqlx::query_as::<_, Replay>(&format!(
        "INSERT INTO webhook_replays (replay_id, seller_id, since) VALUES ($1, $2, $3) \
         ON CONFLICT (seller_id) WHERE finished_at IS NULL DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(seller)
    .bind(since)
    .fetch_optional(pool)
    .await?;
    if let Some(replay) = inserted {
        return Ok(replay);
    }
    let running = sqlx::query_as::<_, Replay>(&format!(
        "SELECT {COLUMNS} FROM webhook_replays WHERE seller_id = $1 AND finished_at IS NULL"
    ))
    .bind(seller)
    .fetch_optional(pool)
    .await?;
    match running {
        Some(running) => Err(StartError::Running(Box::new(running))),
        // It finished meanwhile: start anew.
        None => Box::pin(start(pool, seller, since)).await,
    }
}

/// The seller's replay `replay_id`, if it is theirs.
pub async fn get(
    pool: &PgPool,
    seller: &str,
    replay_id: Uuid,
) -> Result<Option<Replay>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_replays WHERE replay_id = $1 AND seller_id = $2"
    ))
    .bind(replay_id)
    .bind(seller)
    .fetch_optional(pool)
    .await
}

/// Takes the oldest unfinished replay that no notifier holds, under a lease.
pub async fn claim(pool: &PgPool) -> Result<Option<Replay>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE webhook_replays SET claimed_until = now() + make_interval(secs => $1) \
         WHERE replay_id = ( \
           SELECT replay_id FROM webhook_replays \
           WHERE finished_at IS NULL AND (claimed_until IS NULL OR claimed_until < now()) \
           ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING {COLUMNS}"
    ))
    .bind(LEASE_SECS)
    .fetch_optional(pool)
    .await
}

/// What one step of a replay did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Step {
    /// The position of the last change it went past.
    pub cursor: Option<i64>,
    pub found: i32,
    pub delivered: i32,
    pub failed: i32,
    /// Whether the replay reached the end of the feed.
    pub finished: bool,
}

/// Records a step of the replay and renews its lease (or ends it).
pub async fn advance(pool: &PgPool, replay_id: Uuid, step: Step) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_replays SET cursor = coalesce($2, cursor), found = found + $3, \
           delivered = delivered + $4, failed = failed + $5, \
           claimed_until = now() + make_interval(secs => $6), \
           finished_at = CASE WHEN $7 THEN now() END \
         WHERE replay_id = $1",
    )
    .bind(replay_id)
    .bind(step.cursor)
    .bind(step.found)
    .bind(step.delivered)
    .bind(step.failed)
    .bind(LEASE_SECS)
    .bind(step.finished)
    .execute(pool)
    .await?;
    Ok(())
}
