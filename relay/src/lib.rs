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
//! An event that can never be published (it cannot be read, or it is over EventBridge's size
//! limit, or the bus calls it malformed) would otherwise be claimed again forever and hold up
//! nothing but itself: it is set aside ("quarantined": `quarantined_at` and the reason, in the
//! same commit), logged at error level with `quarantined = true` (in AWS a metric filter counts
//! those lines and alarms), and every other event, its photo's later ones included, flows on.
//!
//! The relay sleeps on `LISTEN catalog_events` (a trigger notifies on every append), with a
//! slow poll as a safety net for a lost notification.
//!
//! Each published event is logged with its photo and trace and counted
//! (`catalog_events_published_total`); each turn of the loop is its heartbeat. How far behind
//! the outbox is (`catalog_outbox_oldest_unpublished_seconds`) is measured by the write API,
//! not here: a relay that is down cannot report that it stalled.

pub mod quarantine;
pub mod republish;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_eventbridge::primitives::DateTime as AwsDateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use catalog_event_store::store::read;
use catalog_events::EventEnvelope;
use catalog_events::resources::Resources;
use catalog_runtime::backoff::Backoff;
use futures_util::future::join_all;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

/// The channel the append trigger notifies.
const CHANNEL: &str = "catalog_events";
/// Entries per `PutEvents` call, and the most bytes a call may carry (EventBridge's limits).
const ENTRIES_PER_CALL: usize = 10;
const BYTES_PER_CALL: usize = 256 * 1024;
/// Entry error codes of `PutEvents` that sending again cannot change (the others, such as
/// throttling or an internal failure, are retried).
const NEVER_ACCEPTED: [&str; 2] = ["MalformedDetail", "InvalidArgument"];

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
    /// Claimed events set aside as never publishable.
    pub quarantined: usize,
}

impl Round {
    /// Whether every claimed event was settled (published or set aside).
    fn settled(&self) -> bool {
        self.published + self.quarantined == self.claimed
    }
}

/// A claimed event that can never be published, and why.
struct Poison {
    position: i64,
    photo_id: String,
    sequence: i64,
    reason: String,
}

/// What the bus did with a round's envelopes.
#[derive(Default)]
struct Sent {
    published: Vec<i64>,
    poison: Vec<Poison>,
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
        // The counters an alert takes the increase of exist from the start, at 0.
        metrics::counter!("catalog_events_quarantined_total").increment(0);
        metrics::counter!("catalog_relay_publish_failures_total").increment(0);
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            catalog_runtime::metrics::heartbeat("relay");
            let pause = match self.round().await {
                Ok(round) if round.claimed == 0 => {
                    failures = 0;
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        _ = tokio::time::timeout(idle, listener.recv()) => {}
                    }
                    continue;
                }
                Ok(round) if round.settled() => {
                    failures = 0;
                    continue;
                }
                Ok(round) => {
                    let unsent = round.claimed - round.published - round.quarantined;
                    metrics::counter!("catalog_relay_publish_failures_total")
                        .increment(unsent as u64);
                    tracing::warn!(
                        claimed = round.claimed,
                        published = round.published,
                        "the bus refused some events; retrying"
                    );
                    failures += 1;
                    BACKOFF.delay(failures)
                }
                Err(error) => {
                    tracing::warn!(%error, "relay round failed; retrying");
                    failures += 1;
                    BACKOFF.delay(failures)
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
             WHERE published_at IS NULL AND quarantined_at IS NULL \
             ORDER BY transaction_id, position \
             LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(self.config.batch)
        .fetch_all(&mut *transaction)
        .await?;
        if claimed.is_empty() {
            transaction.commit().await?;
            return Ok(Round::default());
        }
        let count = claimed.len();
        let mut unreadable = Vec::new();
        let outgoing = self
            .envelopes(&mut transaction, claimed, &mut unreadable)
            .await?;
        let mut sent = self.send(&outgoing).await;
        sent.poison.append(&mut unreadable);
        sqlx::query("UPDATE events SET published_at = now() WHERE position = ANY($1)")
            .bind(&sent.published)
            .execute(&mut *transaction)
            .await?;
        let aside: Vec<(i64, &str)> = sent
            .poison
            .iter()
            .map(|poison| (poison.position, poison.reason.as_str()))
            .collect();
        quarantine::set_aside(&mut transaction, &aside).await?;
        transaction.commit().await?;
        announce(&outgoing, &sent.published);
        metrics::counter!("catalog_events_quarantined_total").increment(sent.poison.len() as u64);
        for poison in &sent.poison {
            tracing::error!(
                quarantined = true,
                photo = %poison.photo_id,
                sequence = poison.sequence,
                reason = %poison.reason,
                "an event was set aside: it can never be published"
            );
        }
        Ok(Round {
            claimed: count,
            published: sent.published.len(),
            quarantined: sent.poison.len(),
        })
    }

    /// Folds the claimed events' photos ([`read::at`]) to build each event's envelope; an event
    /// that cannot be read goes to `unreadable` instead.
    async fn envelopes(
        &self,
        transaction: &mut sqlx::PgConnection,
        claimed: Vec<(i64, String, i64)>,
        unreadable: &mut Vec<Poison>,
    ) -> anyhow::Result<Vec<Outgoing>> {
        let mut wanted: HashMap<(String, u64), i64> = claimed
            .into_iter()
            .map(|(position, photo, sequence)| ((photo, sequence as u64), position))
            .collect();
        let keys: Vec<(String, u64)> = wanted.keys().cloned().collect();
        let found = read::at(transaction, &keys).await?;
        for error in found.unreadable {
            let Some((photo_id, sequence)) = error.event() else {
                continue;
            };
            let key = (
                photo_id.to_owned(),
                u64::try_from(sequence).unwrap_or_default(),
            );
            if let Some(position) = wanted.remove(&key) {
                unreadable.push(Poison {
                    position,
                    photo_id: key.0,
                    sequence,
                    reason: error.to_string(),
                });
            }
        }
        let mut outgoing = Vec::with_capacity(wanted.len());
        for folded in found.events {
            let key = (folded.photo_id.to_string(), folded.sequence);
            if let Some(position) = wanted.remove(&key) {
                let envelope = EventEnvelope::new(
                    folded.photo_id,
                    folded.sequence,
                    folded.event,
                    folded.correlation_id,
                    folded.traceparent,
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

    /// Sends the envelopes: what EventBridge accepted, and what it never will.
    async fn send(&self, outgoing: &[Outgoing]) -> Sent {
        let mut sent = Sent::default();
        let calls = self.calls(outgoing, &mut sent.poison);
        let answers = join_all(calls.into_iter().map(|call| async move {
            let (outs, entries): (Vec<&Outgoing>, Vec<_>) = call.into_iter().unzip();
            let answer = self
                .bus
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await;
            let mut sent = Sent::default();
            match answer {
                Ok(answer) => {
                    for (out, result) in outs.into_iter().zip(answer.entries.unwrap_or_default()) {
                        match result.error_code.as_deref() {
                            None => sent.published.push(out.position),
                            Some(code) if NEVER_ACCEPTED.contains(&code) => {
                                let reason = format!(
                                    "EventBridge refused it: {code}: {}",
                                    result.error_message.unwrap_or_default()
                                );
                                sent.poison.push(out.poison(reason));
                            }
                            Some(_) => {}
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, entries = outs.len(), "PutEvents failed");
                }
            }
            sent
        }))
        .await;
        for mut answer in answers {
            sent.published.append(&mut answer.published);
            sent.poison.append(&mut answer.poison);
        }
        sent
    }

    /// Groups entries into calls of at most 10 entries and 256 KB; an entry that cannot be
    /// sent at all (over the limit alone) goes to `poison`.
    fn calls<'a>(
        &self,
        outgoing: &'a [Outgoing],
        poison: &mut Vec<Poison>,
    ) -> Vec<Vec<(&'a Outgoing, PutEventsRequestEntry)>> {
        let mut calls: Vec<Vec<(&Outgoing, PutEventsRequestEntry)>> = Vec::new();
        let mut bytes = 0;
        for out in outgoing {
            let detail = match serde_json::to_string(&out.envelope) {
                Ok(detail) => detail,
                Err(error) => {
                    poison.push(out.poison(format!("its envelope does not serialize: {error}")));
                    continue;
                }
            };
            let size = detail.len() + out.envelope.event_type.len() + self.source.len();
            if size > BYTES_PER_CALL {
                poison.push(out.poison(format!(
                    "its envelope has {size} bytes, over EventBridge's {BYTES_PER_CALL}"
                )));
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
                call.push((out, entry));
            }
        }
        calls
    }
}

/// Logs and counts each published event, in its photo's trace.
fn announce(outgoing: &[Outgoing], published: &[i64]) {
    let published: HashSet<i64> = published.iter().copied().collect();
    for out in outgoing
        .iter()
        .filter(|out| published.contains(&out.position))
    {
        let envelope = &out.envelope;
        let span = tracing::info_span!("publish", photo_id = %envelope.aggregate_id,
            trace_id = tracing::field::Empty);
        if let Some(trace) = &envelope.traceparent {
            catalog_runtime::trace::follow(&span, trace);
        }
        span.in_scope(|| {
            tracing::info!(
                sequence = envelope.sequence,
                event_type = %envelope.event_type,
                "event published"
            );
        });
        metrics::counter!("catalog_events_published_total", "event_type" => envelope.event_type.clone())
            .increment(1);
    }
}

impl Outgoing {
    fn poison(&self, reason: String) -> Poison {
        Poison {
            position: self.position,
            photo_id: self.envelope.aggregate_id.to_string(),
            sequence: i64::try_from(self.envelope.sequence).unwrap_or(i64::MAX),
            reason,
        }
    }
}

/// The wait after a round that failed or left events unpublished.
const BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
