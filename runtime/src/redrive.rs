//! Moving dead-lettered messages back to their queue (`catalog redrive QUEUE`), once whatever
//! stopped them is fixed.
//!
//! SQS's message move tasks would do this in AWS, but the local stack has none; receiving from
//! the dead-letter queue and sending to the queue works in both, the same way, so the one path
//! is the tested one. A message is deleted from the dead-letter queue only once its copy is
//! sent; a crash between the two leaves it in both, which every consumer takes as the
//! redelivery it already allows.

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use catalog_events::resources::{QueueRole, Resources};

use crate::queue::queue_url;

/// How long a received message stays hidden while it is being moved.
const MOVING_SECS: i32 = 60;

/// Moves every visible message of `role`'s dead-letter queue back to the queue; returns how
/// many moved.
pub async fn redrive(
    sdk: &SdkConfig,
    resources: &Resources,
    role: QueueRole,
) -> anyhow::Result<u64> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let queue = resources
        .queue(role)
        .ok_or_else(|| anyhow::anyhow!("no {role:?} queue in the resources"))?;
    let from = queue_url(&sqs, &queue.dead_letter_queue).await?;
    let to = queue_url(&sqs, &queue.name).await?;
    let mut moved = 0;
    loop {
        let messages = sqs
            .receive_message()
            .queue_url(&from)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(MOVING_SECS)
            .send()
            .await?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return Ok(moved);
        }
        let copies = messages
            .iter()
            .enumerate()
            .map(|(index, message)| {
                SendMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message_body(message.body.clone().unwrap_or_default())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sent = sqs
            .send_message_batch()
            .queue_url(&to)
            .set_entries(Some(copies))
            .send()
            .await?;
        let originals = sent
            .successful
            .iter()
            .filter_map(|copy| copy.id.parse::<usize>().ok())
            .filter_map(|index| messages.get(index)?.receipt_handle.clone())
            .enumerate()
            .map(|(index, receipt)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(receipt)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !originals.is_empty() {
            moved += originals.len() as u64;
            sqs.delete_message_batch()
                .queue_url(&from)
                .set_entries(Some(originals))
                .send()
                .await?;
        }
        if let Some(failure) = sent.failed.first() {
            anyhow::bail!(
                "{} message(s) could not be sent back to {} (first: {}); they stay dead-lettered",
                sent.failed.len(),
                queue.name,
                failure.message.as_deref().unwrap_or(&failure.code)
            );
        }
    }
}
