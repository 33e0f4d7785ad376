//! Replays of a seller's webhooks (`POST /v1/webhooks/replay`): every `photo.ready` and
//! `photo.failed` of the seller's photos that occurred since a moment, sent again to the
//! photos' callback URLs with their original `webhook-id`s and bodies, so that a receiver that
//! was down gets what it missed and drops what it already had.
//!
//! The notifier takes one replay at a time under a lease (`webhook_replays`) and walks the
//! seller's change feed (`PhotoStore::changes`, each change with the photo as it was right
//! after it) a page at a time, recording its cursor and counts after each page: a replay left
//! by a stopped notifier is taken up from its last page by another. The state changes it sends
//! are those that occurred from `since` until the replay was asked for (later ones were
//! announced as they happened); a photo deleted since, or without a callback URL, is passed
//! over. Each webhook is tried a few times, closely spaced; one still failing counts as
//! failed, and the replay goes on. Outcomes of a replay are not recorded on the photos: the
//! original attempt's outcome stays what their history shows.

use std::time::Duration;

use catalog_event_store::store::changes::Change;
use catalog_event_store::webhook_replays::{self, Replay, Step};
use catalog_events::{EventEnvelope, Webhook, WebhookKind};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::Notifier;

/// Changes of the feed read at a time.
const PAGE: u32 = 100;
/// Webhooks of one page sent at once.
const AT_ONCE: usize = 8;
/// Attempts of one webhook, and the pause before each next one.
const ATTEMPTS: u32 = 3;
const PAUSE: Duration = Duration::from_secs(1);
/// How often the notifier looks for a replay when none is running.
const IDLE: Duration = Duration::from_secs(1);

impl Notifier {
    /// Works through the replays asked for until `shutdown` (a replay under way stops after
    /// its page, and is taken up again later).
    pub(crate) async fn replays(&self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match webhook_replays::claim(self.store.pool()).await {
                Ok(Some(replay)) => {
                    let span = tracing::info_span!("webhook_replay", replay_id = %replay.replay_id,
                        seller = %replay.seller_id);
                    self.replay(replay, &shutdown).instrument(span).await;
                    continue;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "could not look for webhook replays"),
            }
            tokio::select! {
                () = tokio::time::sleep(IDLE) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }

    async fn replay(&self, replay: Replay, shutdown: &CancellationToken) {
        tracing::info!(since = %replay.since, cursor = ?replay.cursor, "replaying webhooks");
        let mut cursor = replay.cursor;
        loop {
            let page = match self.store.changes(&replay.seller_id, cursor, PAGE).await {
                Ok(Some(page)) => page,
                Ok(None) => {
                    tracing::error!(?cursor, "the replay's cursor is not in its seller's feed");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "the replay waits for the event store");
                    return;
                }
            };
            let mut step = Step {
                cursor: page.changes.last().map(|change| change.position),
                finished: !page.more,
                ..Step::default()
            };
            // One query for the page: which of its photos are deleted now (passed over).
            let photos: Vec<String> = page
                .changes
                .iter()
                .map(|change| change.event.photo_id.to_string())
                .collect();
            let deleted = match self.store.deleted(&photos).await {
                Ok(deleted) => deleted,
                Err(error) => {
                    tracing::warn!(%error, "the replay waits for the event store");
                    return;
                }
            };
            let sent: Vec<Option<bool>> = futures_util::stream::iter(page.changes)
                .filter(|change| {
                    std::future::ready(!deleted.contains(&change.event.photo_id.to_string()))
                })
                .map(|change| self.send_again(&replay, change))
                .buffer_unordered(AT_ONCE)
                .collect()
                .await;
            for delivered in sent.into_iter().flatten() {
                step.found += 1;
                if delivered {
                    step.delivered += 1;
                } else {
                    step.failed += 1;
                }
            }
            for (outcome, count) in [("delivered", step.delivered), ("failed", step.failed)] {
                metrics::counter!("catalog_webhook_replayed_total", "outcome" => outcome)
                    .increment(u64::try_from(count).unwrap_or(0));
            }
            if let Err(error) =
                webhook_replays::advance(self.store.pool(), replay.replay_id, step).await
            {
                tracing::warn!(%error, "could not record the replay's progress; it is taken up again");
                return;
            }
            if step.finished {
                tracing::info!("webhook replay finished");
                return;
            }
            if shutdown.is_cancelled() {
                return;
            }
            cursor = step.cursor.or(cursor);
        }
    }

    /// Sends the webhook of one change again, if it announced a state change of the replay's
    /// span to a callback URL: whether it was delivered (`None`: nothing to send).
    async fn send_again(&self, replay: &Replay, change: Change) -> Option<bool> {
        let folded = change.event;
        let kind = WebhookKind::announcing(&folded.event)?;
        let occurred = folded.event.occurred_at();
        if occurred < replay.since || occurred >= replay.created_at {
            return None;
        }
        let url = folded.after.callback_url.clone()?;
        let envelope = EventEnvelope::new(
            folded.photo_id,
            folded.sequence,
            folded.event,
            folded.correlation_id,
            folded.traceparent,
            folded.after,
        );
        let webhook = Webhook {
            id: crate::webhook_id(&envelope),
            kind,
            for_sequence: envelope.sequence,
        };
        for attempt in 1..=ATTEMPTS {
            match self.attempt(&envelope, &webhook, &url).await {
                Ok(_) => return Some(true),
                Err(failure) if failure.permanent || attempt == ATTEMPTS => {
                    tracing::info!(photo = %envelope.aggregate_id, webhook = %webhook.id,
                        reason = %failure.reason, "a replayed webhook was not delivered");
                    return Some(false);
                }
                Err(_) => tokio::time::sleep(PAUSE * attempt).await,
            }
        }
        Some(false)
    }
}
