//! The projector: keeps the DynamoDB read model up to date from the projector's SQS queue.
//!
//! Messages arrive at least once and in any order. Each carries the photo's whole state after
//! its event, so projecting is writing that state guarded by version ([`item::put`]): the
//! newest version wins whatever the order, and a duplicate changes nothing. Within a batch only
//! the newest envelope of each photo is written; a duplicate this process can rule out from the
//! versions it has already written costs no DynamoDB call at all. A message is deleted only
//! after DynamoDB accepted (or had already superseded) its write, so a crash redelivers it.
//! A message that cannot be read is left alone: after the queue's receive limit it moves to
//! the dead-letter queue, and the other messages go on.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use catalog_events::EventEnvelope;
use catalog_events::resources::{QueueRole, Resources};
use futures_util::future::join_all;
use lru::LruCache;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::item::{self, Guard, Written};

/// Photos whose last written version this process remembers.
const REMEMBERED_PHOTOS: usize = 100_000;

/// Settings of `catalog project`.
#[derive(Debug, Clone, clap::Args)]
pub struct ProjectorConfig {
    /// Concurrent long-polls of the queue (each takes up to 10 messages).
    #[arg(long, env = "CATALOG_PROJECTOR_RECEIVERS", default_value_t = 4)]
    pub receivers: usize,
    /// Long-poll wait of each receive, in seconds (at most 20).
    #[arg(long, env = "CATALOG_SQS_WAIT_SECS", default_value_t = 20)]
    pub wait_secs: i32,
}

/// Counts of what the projector did, for metrics and the benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    /// Envelopes read from messages.
    pub events: AtomicU64,
    /// DynamoDB writes made.
    pub writes: AtomicU64,
    /// Writes DynamoDB refused because it held a newer version.
    pub superseded: AtomicU64,
    /// Envelopes settled without a call: older than a version this process wrote.
    pub ruled_out: AtomicU64,
    /// Messages that could not be read.
    pub unreadable: AtomicU64,
}

pub struct Projector {
    sqs: aws_sdk_sqs::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    queue_url: String,
    table: String,
    wait_secs: i32,
    written: Mutex<LruCache<Uuid, u64>>,
    pub stats: Stats,
}

impl Projector {
    pub async fn new(
        config: &SdkConfig,
        resources: &Resources,
        settings: &ProjectorConfig,
    ) -> anyhow::Result<Self> {
        let sqs = aws_sdk_sqs::Client::new(config);
        let queue = resources
            .queue(QueueRole::Projector)
            .ok_or_else(|| anyhow::anyhow!("no projector queue in the resources"))?;
        let queue_url = sqs
            .get_queue_url()
            .queue_name(&queue.name)
            .send()
            .await?
            .queue_url
            .ok_or_else(|| anyhow::anyhow!("no URL for queue {}", queue.name))?;
        let capacity = NonZeroUsize::new(REMEMBERED_PHOTOS).unwrap_or(NonZeroUsize::MIN);
        Ok(Self {
            sqs,
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            queue_url,
            table: resources.table.name.clone(),
            wait_secs: settings.wait_secs.clamp(0, 20),
            written: Mutex::new(LruCache::new(capacity)),
            stats: Stats::default(),
        })
    }

    /// Projects until `shutdown` is cancelled, with `receivers` long-polls at once.
    pub async fn run(&self, receivers: usize, shutdown: CancellationToken) {
        join_all((0..receivers.max(1)).map(|_| self.receive_loop(&shutdown))).await;
    }

    async fn receive_loop(&self, shutdown: &CancellationToken) {
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            let received = tokio::select! {
                () = shutdown.cancelled() => return,
                received = self.receive() => received,
            };
            match received {
                Ok(messages) => {
                    failures = 0;
                    if !messages.is_empty() {
                        self.handle(messages).await;
                    }
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(%error, "receiving from the projector queue failed");
                    tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(failures.min(6))))
                        .await;
                }
            }
        }
    }

    async fn receive(&self) -> anyhow::Result<Vec<Message>> {
        let answer = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(self.wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await?;
        Ok(answer.messages.unwrap_or_default())
    }

    /// Projects one batch and deletes the messages that are done with.
    pub async fn handle(&self, messages: Vec<Message>) {
        let mut newest: HashMap<Uuid, (EventEnvelope, Vec<String>)> = HashMap::new();
        for message in messages {
            let Some(receipt) = message.receipt_handle.clone() else {
                continue;
            };
            match read(&message) {
                Ok(envelope) => {
                    self.stats.events.fetch_add(1, Ordering::Relaxed);
                    let entry = newest
                        .entry(envelope.aggregate_id)
                        .or_insert_with(|| (envelope.clone(), Vec::new()));
                    if envelope.sequence > entry.0.sequence {
                        entry.0 = envelope;
                    }
                    entry.1.push(receipt);
                }
                Err(error) => {
                    self.stats.unreadable.fetch_add(1, Ordering::Relaxed);
                    let receives = message
                        .attributes
                        .as_ref()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .cloned()
                        .unwrap_or_default();
                    tracing::error!(message_id = ?message.message_id, receives, %error,
                        "unreadable message left for the dead-letter queue");
                }
            }
        }
        let outcomes = join_all(newest.into_values().map(|(envelope, receipts)| async move {
            match self.project(&envelope).await {
                Ok(()) => receipts,
                Err(error) => {
                    tracing::warn!(photo_id = %envelope.aggregate_id, sequence = envelope.sequence,
                        %error, "projection failed; the message will be redelivered");
                    Vec::new()
                }
            }
        }))
        .await;
        self.delete(outcomes.into_iter().flatten().collect()).await;
    }

    async fn project(
        &self,
        envelope: &EventEnvelope,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let photo = envelope.aggregate_id;
        if self
            .last_written(photo)
            .is_some_and(|version| version >= envelope.sequence)
        {
            self.stats.ruled_out.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.stats.writes.fetch_add(1, Ordering::Relaxed);
        match item::put(&self.dynamodb, &self.table, &envelope.state, Guard::Older).await? {
            Written::Stored => {}
            Written::Superseded => {
                self.stats.superseded.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.remember(photo, envelope.sequence);
        Ok(())
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

    async fn delete(&self, receipts: Vec<String>) {
        for chunk in receipts.chunks(10) {
            let entries = chunk.iter().enumerate().filter_map(|(index, receipt)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .ok()
            });
            let answer = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries.collect()))
                .send()
                .await;
            match answer {
                Ok(answer) if !answer.failed.is_empty() => {
                    tracing::warn!(
                        failed = answer.failed.len(),
                        "some messages were not deleted; they will be redelivered and ruled out by version"
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "deleting messages failed; they will be redelivered")
                }
            }
        }
    }
}

/// The envelope of a message, checked for consistency: the state must be the photo's and
/// be at the event's sequence.
fn read(message: &Message) -> anyhow::Result<EventEnvelope> {
    let body = message.body.as_deref().unwrap_or_default();
    let envelope = EventEnvelope::from_bus_message(body)?;
    anyhow::ensure!(
        envelope.state.photo_id == envelope.aggregate_id
            && envelope.state.version == envelope.sequence,
        "the envelope's state is not the photo's at sequence {}",
        envelope.sequence
    );
    Ok(envelope)
}
