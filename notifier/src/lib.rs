//! The notifier: a worker on the notifier queue that tells a photo's `callback_url` that the
//! photo became ready or failed.
//!
//! Each `PhotoProcessed` or `PhotoProcessingFailed` envelope is one webhook, whose id derives
//! from the event's id, so every attempt (and every redelivery of the message) carries the
//! same `webhook-id`. Its body is the photo as the envelope's state shows it, signed with the
//! Standard Webhooks scheme.
//!
//! Retries are scheduled in SQS, not in memory: after a failed attempt the message is hidden
//! for the next backoff delay (doubling from `retry_base`, capped at an hour, with jitter) and
//! comes back by itself, so a restart loses no schedule and a receiver that never answers
//! holds up nothing but its own message. The outcome (delivered, or given up once the next
//! attempt would fall past `give_up_after` from the state change, or on the queue's last
//! receive) is recorded on the photo as an event; its history shows it. A webhook whose
//! outcome is recorded is never sent again, so a redelivered message sends nothing.
//!
//! A seller's replay of webhooks (`replay.rs`) sends again, from the event store, every
//! webhook of a span of time, with its original id and body.
//!
//! Each message is handled in its event's trace (a `notify` span with the photo's id and trace
//! id); the POST carries the trace on as `traceparent`, so the receiver's work joins it. Every
//! attempt is timed by outcome (`catalog_webhook_delivery_seconds`), every give-up counted.

mod replay;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use catalog_events::resources::{QueueRole, Resources};
use catalog_events::view::PhotoView;
use catalog_events::{EventEnvelope, PhotoStatus, TraceParent, Webhook, WebhookKind};
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use catalog_callback_guard::{CallbackPolicy, GuardedResolver, Refusal};
use catalog_event_store::aggregate::{PhotoCommand, WebhookOutcome};
use catalog_event_store::store::{Cause, PhotoStore};
use catalog_event_store::webhook_secrets::{self, Sealer, WebhookKeyConfig};
use catalog_runtime::backoff::Backoff;
use catalog_runtime::queue::{Delivery, Polling, Queue};
use catalog_runtime::settings::VariantsUrl;

/// The longest wait between two attempts.
const MAX_DELAY: Duration = Duration::from_secs(3600);
/// The longest `give_up_after` taken (a week; the queue's receives run out long before).
const MAX_GIVE_UP_AFTER_SECS: u64 = 7 * 24 * 3600;

/// Settings of `catalog notify`.
#[derive(Debug, Clone, clap::Args)]
pub struct NotifierConfig {
    /// The key the sellers' webhook secrets are sealed with.
    #[command(flatten)]
    pub webhook_key: WebhookKeyConfig,
    /// How long one attempt may take, in seconds.
    #[arg(
        long = "webhook-timeout-secs",
        env = "CATALOG_WEBHOOK_TIMEOUT_SECS",
        default_value_t = 5
    )]
    pub timeout_secs: u64,
    /// Delay before the first retry, in seconds; each next one doubles (up to an hour).
    #[arg(
        long = "webhook-retry-base-secs",
        env = "CATALOG_WEBHOOK_RETRY_BASE_SECS",
        default_value_t = 30
    )]
    pub retry_base_secs: u64,
    /// How long after the state change attempts go on, in seconds.
    #[arg(long = "webhook-give-up-after-secs", env = "CATALOG_WEBHOOK_GIVE_UP_AFTER_SECS", default_value_t = 6 * 3600)]
    pub give_up_after_secs: u64,
    /// Deliveries under way at once.
    #[arg(
        long = "webhook-jobs",
        env = "CATALOG_WEBHOOK_JOBS",
        default_value_t = 32
    )]
    pub jobs: usize,
    #[command(flatten)]
    pub polling: Polling,
    /// Base of variant URLs in the body, as the read API shows them.
    #[command(flatten)]
    pub variants: VariantsUrl,
    #[command(flatten)]
    pub policy: CallbackPolicy,
}

/// The body of a webhook (`API.md`).
#[derive(Serialize)]
struct Body {
    #[serde(rename = "type")]
    kind: WebhookKind,
    photo: PhotoView,
}

/// What to do with a message after handling it.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Settled (or nothing to send): delete it.
    Done,
    /// Try again after this long.
    RetryIn(Duration),
    /// The event store did not answer: let the message come back by itself (held while the
    /// store is down).
    Leave,
}

/// Why an attempt did not deliver.
struct Failure {
    status: Option<u16>,
    reason: String,
    /// Trying again cannot help (the address is refused).
    permanent: bool,
}

pub struct Notifier {
    queue: Queue,
    store: Arc<PhotoStore>,
    http: reqwest::Client,
    /// Opens the sellers' webhook secrets.
    sealer: Sealer,
    policy: Arc<CallbackPolicy>,
    retry: Backoff,
    give_up_after: chrono::Duration,
    jobs: usize,
    polling: Polling,
    variants_base_url: String,
    /// Webhooks this process is delivering now, so a duplicate message waits its turn.
    in_flight: Mutex<HashSet<String>>,
}

impl Notifier {
    pub async fn new(
        sdk: &SdkConfig,
        resources: &Resources,
        store: Arc<PhotoStore>,
        config: &NotifierConfig,
    ) -> anyhow::Result<Self> {
        let sealer = Sealer::from_config(&config.webhook_key).await?;
        let policy = Arc::new(config.policy.clone());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(Arc::clone(&policy))))
            .user_agent(concat!(
                "photo-catalog-webhooks/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        Ok(Self {
            queue: Queue::open(sdk, resources, QueueRole::Notifier).await?,
            store,
            http,
            sealer,
            policy,
            retry: Backoff::new(
                Duration::from_secs(config.retry_base_secs.max(1)),
                MAX_DELAY,
            ),
            give_up_after: chrono::Duration::seconds(
                i64::try_from(config.give_up_after_secs.min(MAX_GIVE_UP_AFTER_SECS)).unwrap_or(0),
            ),
            jobs: config.jobs.max(1),
            polling: config.polling.clone(),
            variants_base_url: config.variants.variants_base_url.clone(),
            in_flight: Mutex::new(HashSet::new()),
        })
    }

    /// Delivers until `shutdown` is cancelled; deliveries under way finish.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        // The counter an alert takes the increase of exists from the start, at 0.
        metrics::counter!("catalog_webhook_give_ups_total").increment(0);
        let this = Arc::clone(&self);
        let replays = self.replays(shutdown.clone());
        let deliveries = self.queue.consume_each(
            self.jobs,
            &self.polling,
            shutdown.clone(),
            move |delivery| {
                let (notifier, shutdown) = (Arc::clone(&this), shutdown.clone());
                async move { notifier.handle(delivery, &shutdown).await }
            },
        );
        tokio::join!(deliveries, replays);
    }

    /// Handles one message in its event's trace.
    async fn handle(&self, delivery: Delivery, shutdown: &CancellationToken) {
        let span = tracing::info_span!("notify", photo_id = %delivery.envelope.aggregate_id,
            trace_id = tracing::field::Empty);
        if let Some(trace) = &delivery.envelope.traceparent {
            catalog_runtime::trace::follow(&span, trace);
        }
        self.settle(delivery, shutdown).instrument(span).await;
    }

    async fn settle(&self, delivery: Delivery, shutdown: &CancellationToken) {
        let Delivery {
            receipt,
            receives,
            envelope,
            ..
        } = delivery;
        let Some(kind) = WebhookKind::announcing(&envelope.event) else {
            return self.queue.delete(vec![receipt]).await;
        };
        let Some(url) = envelope.state.callback_url.clone() else {
            return self.queue.delete(vec![receipt]).await;
        };
        let webhook = Webhook {
            id: webhook_id(&envelope),
            kind,
            for_sequence: envelope.sequence,
        };
        let Some(_delivering) = self.claim(&webhook.id) else {
            return;
        };
        let next = loop {
            match self.deliver(&envelope, &webhook, &url, receives).await {
                // The event store is down: hold the message (spending no receive) until it is
                // back, then try again, so that an outage loses no webhook; a shutdown leaves
                // the message to another process.
                Next::Leave if !self.store.reachable().await => {
                    if !self
                        .queue
                        .hold_until(&receipt, self.store.until_reachable(), shutdown)
                        .await
                    {
                        break Next::Leave;
                    }
                }
                next => break next,
            }
        };
        match next {
            Next::Done => self.queue.delete(vec![receipt]).await,
            Next::RetryIn(delay) => {
                if let Err(error) = self.queue.hide(&receipt, delay).await {
                    tracing::warn!(%error, "could not schedule a retry; the message returns after its visibility timeout");
                }
            }
            Next::Leave => {}
        }
    }

    async fn deliver(
        &self,
        envelope: &EventEnvelope,
        webhook: &Webhook,
        url: &str,
        attempt: u32,
    ) -> Next {
        let photo = envelope.aggregate_id;
        match self.store.load(photo).await {
            Ok(Some(now)) if now.notified_through >= webhook.for_sequence => return Next::Done,
            Ok(Some(now)) if now.status == PhotoStatus::Deleted => {
                tracing::info!(%photo, "no webhook for a photo deleted since");
                return Next::Done;
            }
            Ok(Some(_)) => {}
            Ok(None) => return Next::Done,
            Err(error) => {
                tracing::warn!(%photo, %error, "event store unavailable; the webhook waits");
                return Next::Leave;
            }
        }
        let started = Instant::now();
        let attempted = self.attempt(envelope, webhook, url).await;
        let result = match &attempted {
            Ok(_) => "delivered",
            Err(failure) if failure.permanent => "refused",
            Err(_) => "failed",
        };
        metrics::histogram!("catalog_webhook_delivery_seconds", "outcome" => result)
            .record(started.elapsed().as_secs_f64());
        let outcome = match attempted {
            Ok(status) => WebhookOutcome::Delivered {
                webhook: webhook.clone(),
                attempts: attempt,
                status,
            },
            Err(failure) => {
                let delay = schedule(&self.retry, attempt);
                let deadline = envelope.occurred_at + self.give_up_after;
                let too_late = Utc::now() + delay > deadline;
                let last_receive = attempt >= self.queue.max_receives;
                if !(failure.permanent || too_late || last_receive) {
                    tracing::info!(%photo, webhook = %webhook.id, attempt, reason = %failure.reason, ?delay, "webhook will be retried");
                    return Next::RetryIn(delay);
                }
                tracing::warn!(%photo, webhook = %webhook.id, attempt, reason = %failure.reason, "giving up on a webhook");
                metrics::counter!("catalog_webhook_give_ups_total").increment(1);
                WebhookOutcome::GaveUp {
                    webhook: webhook.clone(),
                    attempts: attempt,
                    last_status: failure.status,
                    reason: failure.reason,
                }
            }
        };
        let cause = Cause::new(format!("notify:{}", webhook.id), self.trace(envelope));
        match self
            .store
            .execute(photo, PhotoCommand::RecordWebhook(outcome), &cause)
            .await
        {
            Ok(_) => Next::Done,
            Err(error) => {
                tracing::warn!(%photo, %error, "could not record a webhook's outcome; the message comes back");
                Next::Leave
            }
        }
    }

    /// The trace to hand on from the work under way on `envelope` (its event's trace, with this
    /// work as the parent), if the event has one.
    fn trace(&self, envelope: &EventEnvelope) -> Option<TraceParent> {
        let current = tracing::Span::current();
        envelope
            .traceparent
            .map(|trace| catalog_runtime::trace::handed_on(&current, &trace))
    }

    /// One signed POST, with the photo's `traceparent`; the receiver's status if it was a 2xx.
    async fn attempt(
        &self,
        envelope: &EventEnvelope,
        webhook: &Webhook,
        url: &str,
    ) -> Result<u16, Failure> {
        let url = self.policy.check_literal(url).map_err(refused)?;
        let body = serde_json::to_vec(&Body {
            kind: webhook.kind,
            photo: PhotoView::new(envelope.state.clone(), &self.variants_base_url),
        })
        .map_err(|error| Failure {
            status: None,
            reason: error.to_string(),
            permanent: true,
        })?;
        let secrets =
            webhook_secrets::signing(self.store.pool(), &self.sealer, &envelope.state.seller_id)
                .await
                .map_err(|error| {
                    tracing::warn!(%error, "could not read the seller's webhook secrets");
                    Failure {
                        status: None,
                        reason: "the webhook could not be signed".into(),
                        permanent: false,
                    }
                })?;
        if secrets.is_empty() {
            return Err(Failure {
                status: None,
                reason: "the seller has no webhook secret to sign with".into(),
                permanent: true,
            });
        }
        let headers = signed_headers(&secrets, &webhook.id, Utc::now().timestamp(), &body)
            .map_err(|error| Failure {
                status: None,
                reason: format!("signing failed: {error:?}"),
                permanent: true,
            })?;
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(trace) = self.trace(envelope) {
            request = request.header("traceparent", trace.to_string());
        }
        let sent = request.body(body).send().await;
        match sent {
            Ok(response) if response.status().is_success() => Ok(response.status().as_u16()),
            Ok(response) => Err(Failure {
                status: Some(response.status().as_u16()),
                reason: format!("the receiver answered {}", response.status()),
                permanent: false,
            }),
            // The guarded resolver refused the name (or could not resolve it), or no answer.
            // The reason is stored where the seller reads it: what happened, never the network's
            // own words (addresses, certificate or resolver details); those are logged.
            Err(error) => Err(match refusal_in(&error) {
                Some(refusal) => refused(refusal),
                None => {
                    tracing::info!(webhook = %webhook.id, cause = %root_cause(&error), "a webhook attempt failed");
                    Failure {
                        status: None,
                        reason: if error.is_timeout() {
                            "the receiver did not answer in time"
                        } else {
                            "the receiver could not be reached"
                        }
                        .to_owned(),
                        permanent: false,
                    }
                }
            }),
        }
    }

    /// Marks the webhook as being delivered by this process, until the guard is dropped
    /// (even by a panic); `None` if it already is.
    fn claim<'a>(&'a self, webhook: &str) -> Option<InFlight<'a>> {
        let claimed = self
            .in_flight
            .lock()
            .is_ok_and(|mut in_flight| in_flight.insert(webhook.to_owned()));
        claimed.then(|| InFlight {
            set: &self.in_flight,
            webhook: webhook.to_owned(),
        })
    }
}

/// The `webhook-id` of the webhook announcing `envelope`'s event: from the event's id, the
/// same on every attempt and every replay.
fn webhook_id(envelope: &EventEnvelope) -> String {
    format!("msg_{}", envelope.event_id.simple())
}

/// A webhook this process is delivering; dropping it ends the claim.
struct InFlight<'a> {
    set: &'a Mutex<HashSet<String>>,
    webhook: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut in_flight) = self.set.lock() {
            in_flight.remove(&self.webhook);
        }
    }
}

/// The Standard Webhooks headers of one attempt: the same id on every attempt, this attempt's
/// time, and the signature of `{id}.{timestamp}.{body}` with each of `secrets`,
/// space-separated (during a rotation, the new secret's and the old one's).
fn signed_headers(
    secrets: &[SecretString],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<[(&'static str, String); 3], standardwebhooks::WebhookError> {
    let signatures = secrets
        .iter()
        .map(|secret| {
            standardwebhooks::Webhook::new(secret.expose_secret())?.sign(id, timestamp, body)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok([
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signatures.join(" ")),
    ])
}

/// The wait after attempt `attempt`: the retry base doubled per attempt, capped at an hour, of
/// which a random half ("equal jitter"), so that receivers coming back are not stampeded.
fn schedule(retry: &Backoff, attempt: u32) -> Duration {
    let delay = retry.delay(attempt);
    // SQS schedules in whole seconds.
    Duration::from_secs(delay.as_secs_f64().ceil() as u64).max(Duration::from_secs(1))
}

/// A failure for a refused callback URL: given up at once unless trying again may help.
fn refused(refusal: Refusal) -> Failure {
    Failure {
        status: None,
        reason: format!("the callback URL was refused: {refusal}"),
        permanent: refusal.is_lasting(),
    }
}

/// The address guard's refusal behind a failed request, if that is why it failed.
fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(refusal) = error.downcast_ref::<Refusal>() {
            return Some(refusal.clone());
        }
        cause = error.source();
    }
    None
}

/// The innermost error of a failed request: the part that says what happened.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_with_jitter_up_to_an_hour() {
        let retry = Backoff::new(Duration::from_secs(30), MAX_DELAY);
        for attempt in 1..=20u32 {
            let full = (30 * 2u64.pow(attempt - 1)).min(3600);
            for _ in 0..50 {
                let delay = schedule(&retry, attempt).as_secs();
                assert!(
                    (full / 2..=full).contains(&delay),
                    "attempt {attempt}: {delay}s outside {}..={full}",
                    full / 2
                );
            }
        }
    }

    /// The test vector of the Standard Webhooks specification.
    #[test]
    fn the_signature_is_the_specifications() {
        let secret = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let headers = signed_headers(
            std::slice::from_ref(&secret),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(
            headers,
            [
                ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".to_owned()),
                ("webhook-timestamp", "1614265330".to_owned()),
                (
                    "webhook-signature",
                    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_owned()
                ),
            ]
        );
    }

    /// During a rotation both secrets sign, space-separated, and a receiver with either
    /// verifies.
    #[test]
    fn both_secrets_sign_during_a_rotation() {
        let old = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let new = SecretString::from("whsec_dGVzdC13ZWJob29rLXNlY3JldC0xMjM0NTY3OA==");
        let body = br#"{"type":"photo.ready"}"#;
        let timestamp = Utc::now().timestamp();
        let headers =
            signed_headers(&[new.clone(), old.clone()], "msg_1", timestamp, body).unwrap();
        let signature = &headers[2].1;
        assert_eq!(signature.split(' ').count(), 2, "{signature}");
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            map.insert(name, value.parse().unwrap());
        }
        for secret in [&old, &new] {
            let receiver = standardwebhooks::Webhook::new(secret.expose_secret()).unwrap();
            assert!(receiver.verify(body, &map).is_ok());
        }
        let other =
            standardwebhooks::Webhook::new("whsec_c2VsbGVyLWItc2VjcmV0LTEyMzQ1Njc4OTA=").unwrap();
        assert!(other.verify(body, &map).is_err());
    }

    #[test]
    fn the_backoff_is_at_least_a_second() {
        let retry = Backoff::new(Duration::from_secs(1), MAX_DELAY);
        assert_eq!(schedule(&retry, 1), Duration::from_secs(1));
    }
}
