//! The projector: keeps the DynamoDB read model up to date from the projector's SQS queue.
//!
//! Messages arrive at least once and in any order. Each carries the photo's whole state after
//! its event, so projecting is writing that state guarded by version ([`item::put`]): the
//! newest version wins whatever the order, and a duplicate changes nothing. Within a batch only
//! the newest envelope of each photo is written; a duplicate this process can rule out from the
//! versions it has already written costs no DynamoDB call at all. A message is deleted only
//! after DynamoDB accepted (or had already superseded) its write, so a crash redelivers it.
//! A message that cannot be read is left alone (by the shared consumer of `catalog-runtime`):
//! after the queue's receive limit it moves to the dead-letter queue, and the other messages go
//! on.
//!
//! Each write runs in the event's trace (a `project` span with the photo's id and trace id) and
//! is counted by outcome (`catalog_projections_total`); a write that lands measures how long
//! after its event's append it did (`catalog_projection_lag_seconds`).

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use catalog_events::EventEnvelope;
use catalog_events::resources::{QueueRole, Resources};
use catalog_runtime::queue::{Concurrency, Delivery, Polling, Queue};
use chrono::Utc;
use futures_util::future::join_all;
use lru::LruCache;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::item::{self, Guard, Written};

/// Photos whose last written version this process remembers.
const REMEMBERED_PHOTOS: usize = 100_000;
/// Messages one receive takes (SQS's most).
const PER_RECEIVE: usize = 10;

/// Settings of `catalog project`.
#[derive(Debug, Clone, clap::Args)]
pub struct ProjectorConfig {
    /// Concurrent long-polls of the queue (each takes up to 10 messages).
    #[arg(long, env = "CATALOG_PROJECTOR_RECEIVERS", default_value_t = 4)]
    pub receivers: usize,
    #[command(flatten)]
    pub polling: Polling,
}

/// Counts of what the projector did, for the benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    /// Envelopes received.
    pub events: AtomicU64,
    /// DynamoDB writes made.
    pub writes: AtomicU64,
    /// Writes DynamoDB refused because it held a newer version.
    pub superseded: AtomicU64,
    /// Envelopes settled without a call: older than a version this process wrote.
    pub ruled_out: AtomicU64,
}

pub struct Projector {
    queue: Queue,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    concurrency: Concurrency,
    polling: Polling,
    written: Mutex<LruCache<Uuid, u64>>,
    pub stats: Stats,
}

impl Projector {
    pub async fn new(
        sdk: &SdkConfig,
        resources: &Resources,
        settings: &ProjectorConfig,
    ) -> anyhow::Result<Self> {
        let receivers = settings.receivers.max(1);
        let capacity = NonZeroUsize::new(REMEMBERED_PHOTOS).unwrap_or(NonZeroUsize::MIN);
        Ok(Self {
            queue: Queue::open(sdk, resources, QueueRole::Projector).await?,
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            table: resources.table.name.clone(),
            concurrency: Concurrency {
                jobs: receivers * PER_RECEIVE,
                receivers,
            },
            polling: settings.polling.clone(),
            written: Mutex::new(LruCache::new(capacity)),
            stats: Stats::default(),
        })
    }

    /// Projects until `shutdown` is cancelled; batches under way finish.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let this = Arc::clone(&self);
        self.queue
            .consume(
                self.concurrency,
                &self.polling,
                shutdown,
                move |deliveries| {
                    let projector = Arc::clone(&this);
                    async move { projector.handle(deliveries).await }
                },
            )
            .await;
    }

    /// Projects one receive's messages and deletes those that are done with.
    async fn handle(&self, deliveries: Vec<Delivery>) {
        let settled = self
            .project(deliveries.iter().map(|delivery| &delivery.envelope))
            .await;
        let done = deliveries
            .into_iter()
            .filter(|delivery| settled.contains(&delivery.envelope.aggregate_id))
            .map(|delivery| delivery.receipt)
            .collect();
        self.queue.delete(done).await;
    }

    /// Writes the newest of `envelopes` of each photo; returns the photos whose envelopes are
    /// settled (written, or older than what the table holds). The others are to be retried.
    pub async fn project<'a>(
        &self,
        envelopes: impl IntoIterator<Item = &'a EventEnvelope>,
    ) -> HashSet<Uuid> {
        let mut newest: HashMap<Uuid, &EventEnvelope> = HashMap::new();
        for envelope in envelopes {
            self.stats.events.fetch_add(1, Ordering::Relaxed);
            let entry = newest.entry(envelope.aggregate_id).or_insert(envelope);
            if envelope.sequence > entry.sequence {
                *entry = envelope;
            }
        }
        let outcomes = join_all(newest.into_values().map(|envelope| {
            let span = tracing::info_span!("project", photo_id = %envelope.aggregate_id,
                trace_id = tracing::field::Empty);
            if let Some(trace) = &envelope.traceparent {
                catalog_runtime::trace::follow(&span, trace);
            }
            async move {
                let (settled, outcome) = match self.write(envelope).await {
                    Ok(outcome) => {
                        tracing::info!(sequence = envelope.sequence,
                            event_type = %envelope.event_type, outcome, "event projected");
                        (Some(envelope.aggregate_id), outcome)
                    }
                    Err(error) => {
                        tracing::warn!(sequence = envelope.sequence, %error,
                            "projection failed; the message will be redelivered");
                        (None, "failed")
                    }
                };
                metrics::counter!("catalog_projections_total", "outcome" => outcome).increment(1);
                settled
            }
            .instrument(span)
        }))
        .await;
        outcomes.into_iter().flatten().collect()
    }

    /// Writes the envelope's state unless a newer one is there; says which it was.
    async fn write(
        &self,
        envelope: &EventEnvelope,
    ) -> Result<&'static str, Box<dyn std::error::Error + Send + Sync>> {
        let photo = envelope.aggregate_id;
        if self
            .last_written(photo)
            .is_some_and(|version| version >= envelope.sequence)
        {
            self.stats.ruled_out.fetch_add(1, Ordering::Relaxed);
            return Ok("already_applied");
        }
        self.stats.writes.fetch_add(1, Ordering::Relaxed);
        let outcome =
            match item::put(&self.dynamodb, &self.table, &envelope.state, Guard::Older).await? {
                Written::Stored => {
                    let lag = Utc::now() - envelope.occurred_at;
                    metrics::histogram!("catalog_projection_lag_seconds")
                        .record(lag.as_seconds_f64().max(0.0));
                    "applied"
                }
                Written::Superseded => {
                    self.stats.superseded.fetch_add(1, Ordering::Relaxed);
                    "already_applied"
                }
            };
        self.remember(photo, envelope.sequence);
        Ok(outcome)
    }

    fn last_written(&self, photo: Uuid) -> Option<u64> {
        self.written.lock().ok()?.get(&photo).copied()
    }

    fn remember(&self, photo: Uuid, version: u64) {
        if let Ok(mut written) = self.written.lock() {
            let known = written.get(&photo).copied().unwrap_or(0);
            written.put(photo, known.max(version));
        }
    }
}
