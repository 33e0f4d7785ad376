//! The outbox relay: publishes stored events to the EventBridge bus.
//!
//! Each round claims up to a batch of unpublished events in commit order (`transaction_id`,
//! then `position`) with `FOR UPDATE SKIP LOCKED`, so that relays running at once take
//! different events and none is skipped: an event that a slower transaction commits later is
//! still unpublished and is claimed in a later round. It folds each claimed event's photo up to
//! that event to put the state after it in the envelope, sends the envelopes with `PutEvents`
//! (10 entries a call, under 256 KB), marks published only the entries EventBridge accepted, and
//! commits. The rest stay unpublished and are sent again after a backoff.
//!
//! Delivery is at least once: a relay that stops between `PutEvents` and its commit sends
//! those events again. Every consumer is idempotent by the photo's version.
//!
//! The relay sleeps on `LISTEN catalog_events` (a trigger notifies on every append), with a
//! slow poll as a safety net for a lost notification.

use std::collections::HashMap;
use std::time::Duration;

use crate::store::read::{self, Photos, Start};
use crate::store::snapshots::{self, Snapshot};
use aws_sdk_eventbridge::primitives::DateTime as AwsDateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use catalog_events::EventEnvelope;
use catalog_events::resources::Resources;
use futures_util::TryStreamExt;
use futures_util::future::join_all;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

/// The channel the append trigger notifies.
const CHANNEL: &str = "catalog_events";
/// Entries per `PutEvents` call, and the most bytes a call may carry (EventBridge's limits).
const ENTRIES_PER_CALL: usize = 10;
const BYTES_PER_CALL: usize = 256 * 1024;

/// Settings of `catalog relay`.
#[derive(Debug, Clone, clap::Args)]
pub struct RelayConfig {
    /// Events claimed per round.
    #[arg(
        long = "relay-batch",
        env = "CATALOG_RELAY_BATCH",
        default_value_t = 100
    )]
    pub batch: i64,
    /// Poll this often (seconds) when no notification comes.
    #[arg(
        long = "relay-idle-poll-secs",
        env = "CATALOG_RELAY_IDLE_POLL_SECS",
        default_value_t = 5
    )]
    pub idle_poll_secs: u64,
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub claimed: usize,
    pub published: usize,
}

pub struct Relay {
    pool: PgPool,
    bus: aws_sdk_eventbridge::Client,
    bus_name: String,
    source: String,
    config: RelayConfig,
}

/// A claimed event, ready to send.
struct Outgoing {
    position: i64,
    envelope: EventEnvelope,
}

impl Relay {
    pub fn new(
        pool: PgPool,
        sdk: &aws_config::SdkConfig,
        resources: &Resources,
        config: RelayConfig,
    ) -> Self {
        Self {
            pool,
            bus: aws_sdk_eventbridge::Client::new(sdk),
            bus_name: resources.bus.clone(),
            source: resources.event_source.clone(),
            config,
        }
    }

    /// Publishes until `shutdown` is cancelled.
    pub async fn run(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        let idle = Duration::from_secs(self.config.idle_poll_secs);
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            let pause = match self.round().await {
                Ok(round) if round.claimed == 0 => {
                    failures = 0;
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        _ = tokio::time::timeout(idle, listener.recv()) => {}
                    }
                    continue;
                }
                Ok(round) if round.published == round.claimed => {
                    failures = 0;
                    continue;
                }
                Ok(round) => {
                    tracing::warn!(
                        claimed = round.claimed,
                        published = round.published,
                        "the bus refused some events; retrying"
                    );
                    failures += 1;
                    backoff(failures)
                }
                Err(error) => {
                    tracing::warn!(%error, "relay round failed; retrying");
                    failures += 1;
                    backoff(failures)
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        Ok(())
    }

    /// Claims, sends and marks one batch.
    pub async fn round(&self) -> anyhow::Result<Round> {
        let mut transaction = self.pool.begin().await?;
        let claimed: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT position, aggregate_id, sequence FROM events \
             WHERE published_at IS NULL ORDER BY transaction_id, position \
             LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(self.config.batch)
        .fetch_all(&mut *transaction)
        .await?;
        if claimed.is_empty() {
            transaction.commit().await?;
            return Ok(Round::default());
        }
        let outgoing = self.envelopes(&mut transaction, claimed).await?;
        let published = self.send(&outgoing).await;
        sqlx::query("UPDATE events SET published_at = now() WHERE position = ANY($1)")
            .bind(&published)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(Round {
            claimed: outgoing.len(),
            published: published.len(),
        })
    }

    /// Folds the claimed events' photos to build each event's envelope.
    async fn envelopes(
        &self,
        transaction: &mut sqlx::PgConnection,
        claimed: Vec<(i64, String, i64)>,
    ) -> anyhow::Result<Vec<Outgoing>> {
        let mut wanted: HashMap<(String, u64), i64> = claimed
            .into_iter()
            .map(|(position, photo, sequence)| ((photo, sequence as u64), position))
            .collect();
        // Each photo from its snapshot before the first event claimed, if it has one.
        let mut first_claimed: HashMap<String, i64> = HashMap::new();
        for (photo, sequence) in wanted.keys() {
            let first = first_claimed.entry(photo.clone()).or_insert(i64::MAX);
            *first = (*first).min(i64::try_from(*sequence).unwrap_or(i64::MAX));
        }
        let (photos, firsts): (Vec<String>, Vec<i64>) = first_claimed.into_iter().unzip();
        let mut snapshots: HashMap<String, Snapshot> =
            snapshots::before(&mut *transaction, &photos, &firsts)
                .await?
                .into_iter()
                .collect();
        let starts: Vec<Start> = photos
            .into_iter()
            .map(|photo_id| Start {
                snapshot: snapshots.remove(&photo_id),
                photo_id,
            })
            .collect();
        let mut events = read::events(&mut *transaction, Photos::These(&starts));
        let mut outgoing = Vec::with_capacity(wanted.len());
        while let Some(folded) = events.try_next().await? {
            let key = (folded.photo_id.to_string(), folded.sequence);
            if let Some(position) = wanted.remove(&key) {
                let envelope = EventEnvelope::new(
                    folded.photo_id,
                    folded.sequence,
                    folded.event,
                    folded.correlation_id,
                    folded.after,
                );
                outgoing.push(Outgoing { position, envelope });
            }
        }
        anyhow::ensure!(
            wanted.is_empty(),
            "claimed events of photos that cannot be folded: {:?}",
            wanted.keys()
        );
        outgoing.sort_by_key(|out| out.position);
        Ok(outgoing)
    }

    /// Sends the envelopes; returns the positions EventBridge accepted.
    async fn send(&self, outgoing: &[Outgoing]) -> Vec<i64> {
        let calls = self.calls(outgoing);
        let answers = join_all(calls.into_iter().map(|call| async move {
            let (positions, entries): (Vec<i64>, Vec<_>) = call.into_iter().unzip();
            let answer = self
                .bus
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await;
            match answer {
                Ok(answer) => positions
                    .into_iter()
                    .zip(answer.entries.unwrap_or_default())
                    .filter(|(_, result)| result.error_code.is_none())
                    .map(|(position, _)| position)
                    .collect(),
                Err(error) => {
                    tracing::warn!(%error, entries = positions.len(), "PutEvents failed");
                    Vec::new()
                }
            }
        }))
        .await;
        answers.into_iter().flatten().collect()
    }

    /// Groups entries into calls of at most 10 entries and 256 KB; an entry that alone is
    /// larger is left unpublished and reported.
    fn calls(&self, outgoing: &[Outgoing]) -> Vec<Vec<(i64, PutEventsRequestEntry)>> {
        let mut calls: Vec<Vec<(i64, PutEventsRequestEntry)>> = Vec::new();
        let mut bytes = 0;
        for out in outgoing {
            let detail = match serde_json::to_string(&out.envelope) {
                Ok(detail) => detail,
                Err(error) => {
                    tracing::error!(position = out.position, %error, "envelope does not serialize");
                    continue;
                }
            };
            let size = detail.len() + out.envelope.event_type.len() + self.source.len();
            if size > BYTES_PER_CALL {
                tracing::error!(
                    position = out.position,
                    size,
                    "event is over EventBridge's 256 KB; left unpublished"
                );
                continue;
            }
            let entry = PutEventsRequestEntry::builder()
                .event_bus_name(&self.bus_name)
                .source(&self.source)
                .detail_type(&out.envelope.event_type)
                .detail(detail)
                .time(AwsDateTime::from_millis(
                    out.envelope.occurred_at.timestamp_millis(),
                ))
                .build();
            let full = calls
                .last()
                .is_none_or(|call| call.len() == ENTRIES_PER_CALL || bytes + size > BYTES_PER_CALL);
            if full {
                calls.push(Vec::new());
                bytes = 0;
            }
            bytes += size;
            if let Some(call) = calls.last_mut() {
                call.push((out.position, entry));
            }
        }
        calls
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100 * 2u64.pow(failures.min(8))).min(Duration::from_secs(30))
}
