//! The SQS consumer of every worker: the image processor, the notifier and the projector each
//! read one queue of `resources.json` through [`Queue::consume`].
//!
//! Receives are long-polled and never take more messages than there are free job slots: a
//! worker never holds a message it cannot start on, so another task of the same service (or
//! the same one later) gets it instead. Each message is opened into what it carries (a
//! [`Body`]: the envelope of a photo event, for most) and handed over as a [`Delivery`] that
//! holds its job slot until it is dropped; a handler
//! gets the messages of one receive together, so the projector can settle a batch at once
//! and the processor can run each on its own.
//!
//! Nothing here deletes a message on its own: a handler deletes what it finished, and what it
//! leaves comes back after the visibility timeout, up to the queue's `max_receive_count`,
//! after which SQS moves it to the dead-letter queue. A message that is not an envelope is
//! left alone for that reason, and logged.
//!
//! Every queue counts what it receives, deletes and sees again, and how many messages the
//! process holds (`catalog_queue_*`, labelled with the queue's role, not its deployed name);
//! each turn of a receive loop is the worker's [`heartbeat`](crate::metrics::heartbeat).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use catalog_events::EventEnvelope;
use catalog_events::resources::{QueueRole, Resources};
use futures_util::future::join_all;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;

/// How a worker polls its queue.
#[derive(Debug, Clone, clap::Args)]
pub struct Polling {
    /// Long-poll wait of each receive, in seconds (at most 20).
    #[arg(
        long = "sqs-wait-secs",
        env = "CATALOG_SQS_WAIT_SECS",
        default_value_t = 20
    )]
    pub wait_secs: i32,
}

/// How much a worker takes on at once.
#[derive(Debug, Clone, Copy)]
pub struct Concurrency {
    /// Messages handled at once (each holds a job slot until its delivery is dropped).
    pub jobs: usize,
    /// Receives in flight at once (long polls waiting side by side).
    pub receivers: usize,
}

/// The most messages one receive may return (SQS's limit).
const MAX_PER_RECEIVE: usize = 10;
/// The longest SQS keeps a message hidden.
const MAX_VISIBILITY_SECS: u64 = 12 * 3600;
/// The wait after a receive that failed (SQS unreachable, throttled).
const RECEIVE_BACKOFF: Backoff = Backoff::new(Duration::from_millis(400), Duration::from_secs(13));

/// What a queue's messages carry, read from a message's body.
pub trait Body: Sized + Send + 'static {
    fn read(body: &str) -> Result<Self, String>;
}

/// A photo event as EventBridge delivers it: its envelope, checked.
impl Body for EventEnvelope {
    fn read(body: &str) -> Result<Self, String> {
        EventEnvelope::from_bus_message(body).map_err(|error| error.to_string())
    }
}

/// A received message, opened. Its job slot is free again when it is dropped.
pub struct Delivery<B = EventEnvelope> {
    /// What deletes the message or changes its visibility.
    pub receipt: String,
    /// How many times SQS has handed it out, this time included.
    pub receives: u32,
    pub envelope: B,
    _slot: OwnedSemaphorePermit,
    _held: Held,
}

/// One message this process holds, counted in `catalog_queue_in_flight` while it lives.
struct Held(&'static str);

impl Held {
    fn new(queue: &'static str) -> Self {
        metrics::gauge!("catalog_queue_in_flight", "queue" => queue).increment(1.0);
        Self(queue)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        metrics::gauge!("catalog_queue_in_flight", "queue" => self.0).decrement(1.0);
    }
}

impl<B: Body> Delivery<B> {
    /// What the message carries, or `None` (logged) for anything else.
    fn open(message: Message, slot: OwnedSemaphorePermit, queue: &Queue) -> Option<Self> {
        let receives = receive_count(&message);
        metrics::counter!("catalog_queue_messages_received_total", "queue" => queue.label)
            .increment(1);
        if receives > 1 {
            metrics::counter!("catalog_queue_messages_redelivered_total", "queue" => queue.label)
                .increment(1);
        }
        let receipt = message.receipt_handle?;
        match B::read(message.body.as_deref().unwrap_or_default()) {
            Ok(envelope) => Some(Self {
                receipt,
                receives,
                envelope,
                _slot: slot,
                _held: Held::new(queue.label),
            }),
            Err(error) => {
                tracing::error!(queue = %queue.name, message_id = ?message.message_id, receives, %error,
                    "unreadable message left for the dead-letter queue");
                None
            }
        }
    }
}

/// The URL of the queue named `name`.
pub async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> anyhow::Result<String> {
    sqs.get_queue_url()
        .queue_name(name)
        .send()
        .await?
        .queue_url
        .ok_or_else(|| anyhow::anyhow!("no URL for queue {name}"))
}

/// One queue, with the settings `resources.json` gives it.
#[derive(Clone)]
pub struct Queue {
    sqs: aws_sdk_sqs::Client,
    /// Its name, for logs.
    name: String,
    /// Its role, for metrics: `images`, `projector`, `notifier`, with `-dlq` for a
    /// dead-letter queue.
    label: &'static str,
    url: String,
    /// How long a received message stays hidden from other receivers.
    pub visibility: Duration,
    /// Receives after which SQS moves a message to the dead-letter queue.
    pub max_receives: u32,
}

impl Queue {
    /// Opens the queue of `role`.
    pub async fn open(
        sdk: &SdkConfig,
        resources: &Resources,
        role: QueueRole,
    ) -> anyhow::Result<Self> {
        Self::open_either(sdk, resources, role, false).await
    }

    /// How many messages wait to be received (SQS's approximate count).
    pub async fn waiting(&self) -> anyhow::Result<u64> {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await?;
        Ok(attributes
            .attributes()
            .and_then(|all| all.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|count| count.parse().ok())
            .unwrap_or(0))
    }

    /// Opens the dead-letter queue of `role`'s queue, where messages land that its consumers
    /// could not finish (nothing moves on from there).
    pub async fn open_dead_letters(
        sdk: &SdkConfig,
        resources: &Resources,
        role: QueueRole,
    ) -> anyhow::Result<Self> {
        Self::open_either(sdk, resources, role, true).await
    }

    async fn open_either(
        sdk: &SdkConfig,
        resources: &Resources,
        role: QueueRole,
        dead_letters: bool,
    ) -> anyhow::Result<Self> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let queue = resources
            .queue(role)
            .ok_or_else(|| anyhow::anyhow!("no {role:?} queue in the resources"))?;
        let name = if dead_letters {
            &queue.dead_letter_queue
        } else {
            &queue.name
        };
        let url = queue_url(&sqs, name).await?;
        // The queue as deployed decides when a message comes back and when it is dead-lettered:
        // its own attributes, where `resources.json` is only what it was created from.
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await?;
        let attributes = attributes.attributes();
        let visibility = attributes
            .and_then(|all| all.get(&QueueAttributeName::VisibilityTimeout))
            .and_then(|secs| secs.parse().ok())
            .unwrap_or(queue.visibility_timeout_secs.into());
        let max_receives = attributes
            .and_then(|all| all.get(&QueueAttributeName::RedrivePolicy))
            .and_then(|policy| max_receive_count(policy))
            .unwrap_or(u32::MAX);
        let label = match (role, dead_letters) {
            (QueueRole::Images, false) => "images",
            (QueueRole::Images, true) => "images-dlq",
            (QueueRole::Projector, false) => "projector",
            (QueueRole::Projector, true) => "projector-dlq",
            (QueueRole::Notifier, false) => "notifier",
            (QueueRole::Notifier, true) => "notifier-dlq",
        };
        Ok(Self {
            url,
            sqs,
            label,
            name: name.clone(),
            visibility: Duration::from_secs(visibility),
            max_receives,
        })
    }

    /// Receives messages and hands each receive's deliveries to `handle` on a task of its
    /// own, with at most `concurrency.jobs` deliveries alive at once, until `shutdown` is
    /// cancelled; then waits for the deliveries under way.
    pub async fn consume<B, F, Fut>(
        &self,
        concurrency: Concurrency,
        polling: &Polling,
        shutdown: CancellationToken,
        handle: F,
    ) where
        B: Body,
        F: Fn(Vec<Delivery<B>>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let jobs = concurrency.jobs.max(1);
        let slots = Arc::new(Semaphore::new(jobs));
        let receivers = concurrency.receivers.clamp(1, jobs);
        join_all((0..receivers).map(|_| self.receive_loop(&slots, polling, &shutdown, &handle)))
            .await;
        let _ = slots
            .acquire_many(u32::try_from(jobs).unwrap_or(u32::MAX))
            .await;
    }

    /// [`Queue::consume`] with one receiver, each delivery handled on its own (a long job
    /// frees its slot when it ends, whatever its neighbours do).
    pub async fn consume_each<B, F, Fut>(
        &self,
        jobs: usize,
        polling: &Polling,
        shutdown: CancellationToken,
        handle: F,
    ) where
        B: Body,
        F: Fn(Delivery<B>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let concurrency = Concurrency { jobs, receivers: 1 };
        self.consume(concurrency, polling, shutdown, move |deliveries| {
            let jobs = join_all(deliveries.into_iter().map(handle.clone()));
            async move {
                jobs.await;
            }
        })
        .await;
    }

    async fn receive_loop<B, F, Fut>(
        &self,
        slots: &Arc<Semaphore>,
        polling: &Polling,
        shutdown: &CancellationToken,
        handle: &F,
    ) where
        B: Body,
        F: Fn(Vec<Delivery<B>>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            crate::metrics::heartbeat(self.label);
            // Receive only when a slot is free, and no more messages than free slots.
            let Ok(first) = Arc::clone(slots).acquire_owned().await else {
                return;
            };
            let mut held = vec![first];
            while held.len() < MAX_PER_RECEIVE {
                match Arc::clone(slots).try_acquire_owned() {
                    Ok(slot) => held.push(slot),
                    Err(_) => break,
                }
            }
            let received = tokio::select! {
                () = shutdown.cancelled() => return,
                received = self.receive(held.len(), polling.wait_secs) => received,
            };
            let messages = match received {
                Ok(messages) => {
                    failures = 0;
                    messages
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(queue = %self.name, error = format!("{error:#}"), "receiving from a queue failed");
                    RECEIVE_BACKOFF.wait(failures).await;
                    continue;
                }
            };
            // Each message takes one of the held slots; the rest are free again on drop.
            let deliveries: Vec<Delivery<B>> = messages
                .into_iter()
                .zip(held)
                .filter_map(|(message, slot)| Delivery::open(message, slot, self))
                .collect();
            if !deliveries.is_empty() {
                tokio::spawn(handle(deliveries));
            }
        }
    }

    async fn receive(&self, count: usize, wait_secs: i32) -> anyhow::Result<Vec<Message>> {
        let answer = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(count).unwrap_or(10))
            .wait_time_seconds(wait_secs.clamp(0, 20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await?;
        Ok(answer.messages.unwrap_or_default())
    }

    /// Removes finished messages, ten to a call. A failure only means they come back, which
    /// every handler allows.
    pub async fn delete(&self, receipts: Vec<String>) {
        for chunk in receipts.chunks(MAX_PER_RECEIVE) {
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
                .queue_url(&self.url)
                .set_entries(Some(entries.collect()))
                .send()
                .await;
            if let Ok(answer) = &answer {
                metrics::counter!("catalog_queue_messages_deleted_total", "queue" => self.label)
                    .increment(answer.successful.len() as u64);
            }
            match answer {
                Ok(answer) if !answer.failed.is_empty() => tracing::warn!(
                    queue = %self.name,
                    failed = answer.failed.len(),
                    "some finished messages were not deleted; they will come back and change nothing"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(
                    queue = %self.name,
                    error = %aws_sdk_sqs::error::DisplayErrorContext(&error),
                    "deleting finished messages failed; they will come back and change nothing"
                ),
            }
        }
    }

    /// Hides the message for `delay` from now (a retry's schedule, or a heartbeat), at most
    /// the 12 hours SQS allows.
    pub async fn hide(&self, receipt: &str, delay: Duration) -> anyhow::Result<()> {
        let secs = delay.as_secs().min(MAX_VISIBILITY_SECS);
        self.sqs
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(i32::try_from(secs).unwrap_or(i32::MAX))
            .send()
            .await?;
        Ok(())
    }

    /// Keeps the message hidden until `ready` completes (a dependency back, say): a message
    /// held this way spends no receive while it waits. A shutdown ends the wait, so a process
    /// told to stop does not wait on a dependency that is down: the message returns to the
    /// queue once its visibility runs out (its next receive counts). Whether `ready` completed.
    pub async fn hold_until(
        &self,
        receipt: &str,
        ready: impl Future<Output = ()>,
        shutdown: &CancellationToken,
    ) -> bool {
        let _hidden = self.keep_hidden(receipt);
        tokio::select! {
            () = ready => true,
            () = shutdown.cancelled() => false,
        }
    }

    /// Keeps the message hidden, extending it every half timeout, until the [`Heartbeat`] is
    /// dropped. The heartbeat is a task of its own: a job that does CPU work between its awaits
    /// (hashing a download, say) cannot hold up its own message's extension past the timeout,
    /// which would hand the message to another receiver, or to the dead-letter queue.
    pub fn keep_hidden(&self, receipt: &str) -> Heartbeat {
        let (queue, receipt) = (self.clone(), receipt.to_owned());
        Heartbeat(tokio::spawn(async move {
            loop {
                tokio::time::sleep(queue.visibility / 2).await;
                if let Err(error) = queue.hide(&receipt, queue.visibility).await {
                    tracing::warn!(queue = %queue.name, error = format!("{error:#}"), "could not extend a message's visibility");
                }
            }
        }))
    }
}

/// A message kept hidden by [`Queue::keep_hidden`]; dropping it stops the extensions.
#[derive(Debug)]
pub struct Heartbeat(tokio::task::JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The receives after which a queue's redrive policy dead-letters a message (SQS writes the
/// count as a number or as a string).
fn max_receive_count(redrive_policy: &str) -> Option<u32> {
    let policy: serde_json::Value = serde_json::from_str(redrive_policy).ok()?;
    match &policy["maxReceiveCount"] {
        serde_json::Value::Number(count) => count.as_u64()?.try_into().ok(),
        serde_json::Value::String(count) => count.parse().ok(),
        _ => None,
    }
}

/// How many times SQS has handed out `message`, this time included.
fn receive_count(message: &Message) -> u32 {
    message
        .attributes
        .as_ref()
        .and_then(|attributes| attributes.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|count| count.parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redrive_policy_gives_the_receives_as_a_number_or_a_string() {
        let arn = "arn:aws:sqs:us-east-1:123456789012:dead";
        let number = format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":5}}"#);
        let string = format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"1"}}"#);
        assert_eq!(max_receive_count(&number), Some(5));
        assert_eq!(max_receive_count(&string), Some(1));
        assert_eq!(max_receive_count(r#"{"deadLetterTargetArn":"x"}"#), None);
        assert_eq!(max_receive_count("not json"), None);
    }
}
