//! Settling the images queue's dead-letter queue, so that no photo is left `processing` by a
//! crash.
//!
//! A job's last receive normally fails its photo before the message moves to the dead-letter
//! queue, but a processor killed while it held that message cannot. So the processor also
//! consumes its dead letters, one at a time: a dead-lettered render fails its photo (if it is
//! still waiting) with a reason the seller can act on, and a dead-lettered upload record or
//! file removal is tried again there, waiting [`DEAD_LETTER_BACKOFF`] after each failure,
//! until it succeeds. While the event store cannot be reached a dead letter is held like any
//! job, and no attempt is spent.

use std::time::Duration;

use catalog_events::TraceParent;
use catalog_runtime::backoff::Backoff;
use catalog_runtime::queue::Delivery;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::jobs::{Job, Original};
use crate::{Outcome, Processor, job_cause};

/// How long a dead letter that could not be settled waits before it is tried again: 5 minutes
/// at first, doubling with each receive up to an hour.
const DEAD_LETTER_BACKOFF: Backoff =
    Backoff::new(Duration::from_secs(300), Duration::from_secs(3600));

impl Processor {
    /// Settles a dead-lettered job: a render fails its photo if it is still waiting; any other
    /// job is tried once more, and waits longer after each failure.
    pub(crate) async fn settle(&self, delivery: Delivery<Job>, shutdown: &CancellationToken) {
        let span = self.job_span(&delivery.envelope);
        self.settle_traced(delivery, shutdown)
            .instrument(span)
            .await;
    }

    async fn settle_traced(&self, delivery: Delivery<Job>, shutdown: &CancellationToken) {
        let receipt = delivery.receipt.as_str();
        let outcome = self
            .holding(&self.dead_letters, receipt, shutdown, || async {
                match &delivery.envelope {
                    Job::Render {
                        photo,
                        trace,
                        original,
                    } => self.give_up(*photo, *trace, *original).await,
                    Job::Purge { photo, .. } => self.purge(*photo).await,
                    Job::PurgeReplaced { photo, .. } => self.purge_replaced(*photo).await,
                    // The photo is served as it is; the nightly resync asks again.
                    Job::LaterFormats { .. } => Outcome::Done,
                    Job::Confirm { key } => self.confirm(key).await,
                }
            })
            .await;
        match outcome {
            Outcome::Done => self.dead_letters.delete(vec![receipt.to_owned()]).await,
            Outcome::Left => {}
            Outcome::Retry(reason) => {
                tracing::warn!(job = ?delivery.envelope, receives = delivery.receives, %reason, "a dead-lettered job is still failing");
                let delay = DEAD_LETTER_BACKOFF.delay(delivery.receives);
                if let Err(error) = self.dead_letters.hide(receipt, delay).await {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "could not put off a dead-lettered job"
                    );
                }
            }
        }
    }

    /// Fails a render that could not finish, if the photo is still waiting for it.
    pub(crate) async fn give_up(
        &self,
        photo: Uuid,
        trace: Option<TraceParent>,
        original: Original,
    ) -> Outcome {
        let reason = match original {
            Original::First => "the photo could not be processed; reprocess it to try again",
            Original::Replacement => "the new original could not be processed; replace it again",
        };
        metrics::counter!("catalog_image_jobs_total", "outcome" => "failed", "reason" => "gave_up")
            .increment(1);
        let cause = job_cause(format!("give-up:{photo}"), trace);
        self.fail(photo, original, reason, &cause).await
    }
}
