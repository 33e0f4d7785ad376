//! The outbox relay: publishes stored events to the EventBridge bus.
//!
//! Each round claims up to a batch of unpublished events in commit order (`transaction_id`,
//! then `position`) with `FOR UPDATE SKIP LOCKED`, so that rounds running at once take
//! different events and none is skipped: an event that a slower transaction commits later is
//! still unpublished and is claimed in a later round. It folds each claimed event's photo up to
//! that event to put the state after it in the envelope, sends the envelopes with `PutEvents`
//! (10 entries a call, under 256 KB, the calls side by side in lanes that keep each photo's
//! order: `lanes`), marks published only the entries EventBridge accepted, and commits. The rest
//! stay unpublished and are sent again after a backoff.
//!
//! Most of a round is waiting: on the database (claim, fold, commit) and on the bus. So the
//! relay keeps several rounds in flight (`CATALOG_RELAY_IN_FLIGHT`), each its own transaction
//! and batch. A round takes a transaction-long advisory lock on each photo it claims events of,
//! and passes over the events of a photo another round has locked; the claim follows commit
//! order, so a round holds a photo's earliest unpublished events, and the photo's later ones
//! wait until it is over. A photo's events thus go out one round at a time, in commit order,
//! whether the rounds are one relay's or several relays'.
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

mod lanes;
pub mod quarantine;
pub mod republish;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_eventbridge::primitives::DateTime as AwsDateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use catalog_event_store::store::read;
use catalog_events::EventEnvelope;
use catalog_events::resources::Resources;
use catalog_runtime::backoff::Backoff;
use lanes::{Answer, BYTES_PER_CALL, ENTRIES_PER_CALL};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The channel the append trigger notifies.
const CHANNEL: &str = "catalog_events";
/// The first key of the advisory locks a round takes on its photos (the second is the photo's
/// `hashtext`): the two-key locks are apart from the one-key locks others take (sqlx's
/// migrations), and this key keeps them apart from any other two-key use.
const PHOTO_LOCKS: i32 = 0x7265_6c79;
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
    /// Rounds in flight at once, each its own batch, sending its calls side by side; a photo is
    /// in one round at a time.
    #[arg(
        long = "relay-in-flight",
        env = "CATALOG_RELAY_IN_FLIGHT",
        default_value_t = 8
    )]
    pub in_flight: usize,
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

    /// Publishes until `shutdown` is cancelled, with up to `in_flight` rounds at once, each a
    /// task of its own (their folding and encoding run on every core). Each notification of
    /// the append trigger wakes one idle round, and a round that claimed a full batch wakes
    /// another: a backlog brings them all in, a trickle of appends one or two, rather than
    /// every round claiming for every append.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        let idle = Duration::from_secs(self.config.idle_poll_secs);
        // The counters an alert takes the increase of exist from the start, at 0.
        metrics::counter!("catalog_events_quarantined_total").increment(0);
        metrics::counter!("catalog_relay_publish_failures_total").increment(0);
        let relay = Arc::new(self);
        let appended = Arc::new(Notify::new());
        let mut rounds = JoinSet::new();
        for _ in 0..relay.config.in_flight.max(1) {
            let (relay, appended) = (Arc::clone(&relay), Arc::clone(&appended));
            let shutdown = shutdown.clone();
            rounds.spawn(async move { relay.rounds(&appended, &shutdown).await });
        }
        while !shutdown.is_cancelled() {
            tokio::select! {
                () = shutdown.cancelled() => {}
                // A round ends before the shutdown only by panicking.
                ended = rounds.join_next() => {
                    ended.transpose()?;
                    anyhow::ensure!(shutdown.is_cancelled(), "a round of the relay ended");
                }
                received = listener.recv() => {
                    // A listener that lost its connection reconnects at its next call; until
                    // it can, the rounds poll.
                    if received.is_err() {
                        tokio::select! {
                            () = shutdown.cancelled() => {}
                            () = tokio::time::sleep(idle) => {}
                        }
                    }
                    appended.notify_one();
                }
            }
        }
        while let Some(ended) = rounds.join_next().await {
            ended?;
        }
        Ok(())
    }

    /// One of the rounds in flight, again and again until `shutdown`: after a failure it backs
    /// off; with nothing left it sleeps until it is woken or the idle poll is due.
    async fn rounds(&self, appended: &Notify, shutdown: &CancellationToken) {
        let idle = Duration::from_secs(self.config.idle_poll_secs);
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            catalog_runtime::metrics::heartbeat("relay");
            // Waiting from before the claim: a wake-up while it runs is not lost.
            let woken = appended.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let pause = match self.round().await {
                Ok(round) if round.claimed == 0 => {
                    failures = 0;
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        _ = tokio::time::timeout(idle, woken) => {}
                    }
                    continue;
                }
                Ok(round) if round.settled() => {
                    failures = 0;
                    // A full batch: more may be waiting, and an idle round joins in.
                    if i64::try_from(round.claimed)
                        .is_ok_and(|claimed| claimed >= self.config.batch)
                    {
                        appended.notify_one();
                    }
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
    }

    /// Claims, sends and marks one batch, of photos no other round holds.
    pub async fn round(&self) -> anyhow::Result<Round> {
        let mut transaction = self.pool.begin().await?;
        // Each claimed event's photo is locked for the transaction too (an advisory lock), and
        // a row whose photo another round has locked is passed over: a photo is in one round
        // at a time, of this relay or another, from its earliest unpublished event on.
        let claimed: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT position, aggregate_id, sequence FROM events \
             WHERE published_at IS NULL AND quarantined_at IS NULL \
               AND pg_try_advisory_xact_lock($2, hashtext(aggregate_id)) \
             ORDER BY transaction_id, position \
             LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(self.config.batch)
        .bind(PHOTO_LOCKS)
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

    /// Sends the envelopes, several calls in flight ([`lanes`]): what EventBridge accepted, and
    /// what it never will. An entry that cannot be sent at all (it does not serialize, or is
    /// over a call's limit alone) is never accepted either.
    async fn send(&self, outgoing: &[Outgoing]) -> Sent {
        let mut sent = Sent::default();
        let mut ready = Vec::with_capacity(outgoing.len());
        let mut shape = Vec::with_capacity(outgoing.len());
        for out in outgoing {
            match entry(&self.bus_name, &self.source, &out.envelope) {
                Err(error) => {
                    sent.poison
                        .push(out.poison(format!("its envelope does not serialize: {error}")));
                }
                Ok((_, size)) if size > BYTES_PER_CALL => {
                    sent.poison.push(out.poison(format!(
                        "its envelope has {size} bytes, over EventBridge's {BYTES_PER_CALL}"
                    )));
                }
                Ok((entry, size)) => {
                    ready.push((out, entry));
                    shape.push((out.envelope.aggregate_id.to_string(), size));
                }
            }
        }
        let shape: Vec<(&str, usize)> = shape
            .iter()
            .map(|(photo, size)| (photo.as_str(), *size))
            .collect();
        let lanes = lanes::split(&shape, shape.len().div_ceil(ENTRIES_PER_CALL));
        let ready = &ready;
        for (index, answer) in lanes::send(lanes, |call| self.put(ready, call)).await {
            let out = ready[index].0;
            match answer {
                Answer::Accepted => sent.published.push(out.position),
                Answer::Refused(reason) => sent.poison.push(out.poison(reason)),
                Answer::Failed => {}
            }
        }
        sent
    }

    /// One `PutEvents` call of the entries at `call`: each entry's answer.
    async fn put(
        &self,
        ready: &[(&Outgoing, PutEventsRequestEntry)],
        call: lanes::Call,
    ) -> Vec<Answer> {
        let entries = call.iter().map(|&index| ready[index].1.clone()).collect();
        match self
            .bus
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(answer) => answer
                .entries
                .unwrap_or_default()
                .into_iter()
                .map(|result| match result.error_code.as_deref() {
                    None => Answer::Accepted,
                    Some(code) if NEVER_ACCEPTED.contains(&code) => Answer::Refused(format!(
                        "EventBridge refused it: {code}: {}",
                        result.error_message.unwrap_or_default()
                    )),
                    Some(_) => Answer::Failed,
                })
                .collect(),
            Err(error) => {
                tracing::warn!(%error, entries = call.len(), "PutEvents failed");
                vec![Answer::Failed; call.len()]
            }
        }
    }
}

/// The `PutEvents` entry of `envelope` on `bus`, and its size as EventBridge counts it against
/// a call's 256 KB (detail, detail type and source).
pub fn entry(
    bus: &str,
    source: &str,
    envelope: &EventEnvelope,
) -> Result<(PutEventsRequestEntry, usize), serde_json::Error> {
    let detail = serde_json::to_string(envelope)?;
    let size = detail.len() + envelope.event_type.len() + source.len();
    let entry = PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(source)
        .detail_type(&envelope.event_type)
        .detail(detail)
        .time(AwsDateTime::from_millis(
            envelope.occurred_at.timestamp_millis(),
        ))
        .build();
    Ok((entry, size))
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
