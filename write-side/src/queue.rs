//! An SQS queue of `resources.json` as the write side's workers (the image processor and the
//! webhook notifier) consume it: long-polled receives that never take more messages than there
//! are free job slots, each message opened into the envelope it carries and handled on a task
//! of its own, deletes, and visibility changes (to keep a long job's message hidden, or to
//! schedule a retry). A message that is not an envelope is left alone, for the dead-letter
//! queue.
//!
//! Nothing here deletes a message on its own: a handler deletes what it finished, and what it
//! leaves comes back after the visibility timeout, up to the queue's `max_receive_count`,
//! after which SQS moves it to the dead-letter queue.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use catalog_events::EventEnvelope;
use catalog_events::resources::{QueueRole, Resources};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// How a worker polls its queue (shared by the image processor and the notifier).
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

/// A received message, opened.
pub struct Delivery {
    /// What deletes the message or changes its visibility.
    pub receipt: String,
    /// How many times SQS has handed it out, this time included.
    pub receives: u32,
    pub envelope: EventEnvelope,
}

impl Delivery {
    /// The envelope in an EventBridge message, or `None` (logged) for anything else.
    fn open(message: Message) -> Option<Self> {
        let receives = receive_count(&message);
        let receipt = message.receipt_handle?;
        match EventEnvelope::from_bus_message(message.body.as_deref().unwrap_or_default()) {
            Ok(envelope) => Some(Self {
                receipt,
                receives,
                envelope,
            }),
            Err(error) => {
                tracing::error!(message_id = ?message.message_id, receives, %error, "unreadable message left for the dead-letter queue");
                None
            }
        }
    }
}

/// The longest SQS keeps a message hidden.
const MAX_VISIBILITY_SECS: u64 = 12 * 3600;

/// One queue, with the settings `resources.json` gives it.
pub struct Queue {
    sqs: aws_sdk_sqs::Client,
    url: String,
    /// How long a received message stays hidden from other receivers.
    pub visibility: Duration,
    /// Receives after which SQS moves a message to the dead-letter queue.
    pub max_receives: u32,
}

impl Queue {
    /// Looks up the URL of the queue of `role`.
    pub async fn open(
        sdk: &SdkConfig,
        resources: &Resources,
        role: QueueRole,
    ) -> anyhow::Result<Self> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let queue = resources
            .queue(role)
            .ok_or_else(|| anyhow::anyhow!("no {role:?} queue in the resources"))?;
        let url = sqs
            .get_queue_url()
            .queue_name(&queue.name)
            .send()
            .await?
            .queue_url
            .ok_or_else(|| anyhow::anyhow!("no URL for queue {}", queue.name))?;
        Ok(Self {
            sqs,
            url,
            visibility: Duration::from_secs(queue.visibility_timeout_secs.into()),
            max_receives: queue.max_receive_count,
        })
    }

    /// Receives and handles messages, at most `jobs` at once, until `shutdown` is cancelled;
    /// then waits for the jobs under way.
    pub async fn consume<F, Fut>(
        &self,
        jobs: usize,
        polling: &Polling,
        shutdown: CancellationToken,
        handle: F,
    ) where
        F: Fn(Delivery) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let slots = Arc::new(Semaphore::new(jobs.max(1)));
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            // Receive only when a job slot is free, and no more messages than free slots.
            let Ok(first) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let wanted = (slots.available_permits() + 1).min(10);
            let received = tokio::select! {
                () = shutdown.cancelled() => break,
                received = self.receive(wanted, polling.wait_secs) => received,
            };
            let messages = match received {
                Ok(messages) => {
                    failures = 0;
                    messages
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(%error, "receiving from a queue failed");
                    tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(failures.min(6))))
                        .await;
                    continue;
                }
            };
            let mut first = Some(first);
            for delivery in messages.into_iter().filter_map(Delivery::open) {
                let slot = match first.take() {
                    Some(slot) => slot,
                    None => match Arc::clone(&slots).acquire_owned().await {
                        Ok(slot) => slot,
                        Err(_) => return,
                    },
                };
                let job = handle(delivery);
                tokio::spawn(async move {
                    job.await;
                    drop(slot);
                });
            }
        }
        let _ = slots
            .acquire_many(u32::try_from(jobs.max(1)).unwrap_or(u32::MAX))
            .await;
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

    /// Removes a finished message. A failure only means it comes back, which handlers allow.
    pub async fn delete(&self, receipt: &str) {
        if let Err(error) = self
            .sqs
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
        {
            tracing::warn!(%error, "could not delete a finished message; it will come back and change nothing");
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

    /// Keeps the message hidden, extending it every half timeout; never returns on its own.
    pub async fn keep_hidden(&self, receipt: &str) {
        loop {
            tokio::time::sleep(self.visibility / 2).await;
            if let Err(error) = self.hide(receipt, self.visibility).await {
                tracing::warn!(%error, "could not extend a message's visibility");
            }
        }
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
