//! Webhooks end to end: a photo uploaded with a `callback_url` is processed for real, and the
//! notifier POSTs to a receiver on loopback that checks the signature with the reference
//! Standard Webhooks library. Retries, the give-up, redeliveries and the SSRF guard, at
//! submission and at call time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use catalog_events::resources::QueueRole;
use catalog_tests::pipeline::{Pipeline, Stack, notifier_config};
use catalog_tests::receiver::{Answers, Receiver};
use catalog_tests::{WriteApi, eventually, expect_json, expect_problem};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const SELLER: &str = "seller-w";

/// The photo's history through the write API, as its seller sees it.
async fn history(pipeline: &Pipeline, photo: Uuid) -> Vec<Value> {
    let response = pipeline
        .write
        .as_seller(Method::GET, &format!("/v1/photos/{photo}/history"), SELLER)
        .send()
        .await
        .unwrap();
    let body = expect_json(response, StatusCode::OK).await.unwrap();
    body["events"].as_array().unwrap().clone()
}

fn of_type<'a>(events: &'a [Value], event_type: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|event| event["event_type"] == event_type)
        .collect()
}

/// Waits until the photo's history holds a webhook outcome; returns it.
async fn outcome(pipeline: &Pipeline, photo: Uuid) -> Value {
    eventually(Duration::from_secs(90), || async {
        let events = history(pipeline, photo).await;
        Ok(events.into_iter().find(|event| {
            event["event_type"] == "PhotoWebhookDelivered"
                || event["event_type"] == "PhotoWebhookGaveUp"
        }))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_retries_with_one_id_until_it_accepts_once() {
    let receiver = Receiver::start(Answers::Script(vec![500, 500]))
        .await
        .unwrap();
    let pipeline = Pipeline::start().await.unwrap();
    let secret = pipeline.write.webhook_secret(SELLER).await.unwrap();
    let photo = pipeline
        .upload(SELLER, "sku-w1", Some(&receiver.url))
        .await
        .unwrap();
    let ready = pipeline.ready(photo).await.unwrap();

    let delivered = outcome(&pipeline, photo).await;
    assert_eq!(delivered["event_type"], "PhotoWebhookDelivered");
    let received = receiver.received();
    let answers: Vec<_> = received.iter().map(|request| request.answered).collect();
    assert_eq!(answers, [Some(500), Some(500), Some(200)]);
    assert!(
        received
            .iter()
            .all(|request| request.verifies_with(&secret))
    );
    let id = &received[0].webhook_id;
    assert!(id.starts_with("msg_"), "{id}");
    assert!(received.iter().all(|request| &request.webhook_id == id));
    let body = &received[2].body;
    assert_eq!(body["type"], "photo.ready");
    assert_eq!(body["photo"]["photo_id"], photo.to_string());
    assert_eq!(body["photo"]["status"], "ready");
    assert_eq!(body["photo"]["version"], ready);
    let payload = &delivered["payload"];
    assert_eq!(payload["webhook"]["id"], id.as_str());
    assert_eq!(payload["webhook"]["type"], "photo.ready");
    assert_eq!(payload["webhook"]["for_sequence"], ready);
    assert_eq!(payload["attempts"], 3);
    assert_eq!(payload["status"], 200);

    // The same message again (an at-least-once redelivery): nothing is sent or recorded.
    let announced = pipeline.envelope(photo, ready).await.unwrap();
    let stack = &pipeline.stack;
    stack
        .redeliver(QueueRole::Notifier, &announced)
        .await
        .unwrap();
    eventually(Duration::from_secs(30), || async {
        Ok((stack.queued(QueueRole::Notifier).await? == 0).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(receiver.received().len(), 3);
    let events = history(&pipeline, photo).await;
    assert_eq!(of_type(&events, "PhotoWebhookDelivered").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_that_fails_is_announced_as_failed_with_its_reason() {
    let receiver = Receiver::start(Answers::Script(vec![])).await.unwrap();
    let pipeline = Pipeline::start().await.unwrap();
    let secret = pipeline.write.webhook_secret(SELLER).await.unwrap();
    // A WebP whose header passes the upload's sniffing but which does not decode.
    let damaged =
        include_bytes!("../../images/fuzz/regressions/webp-exif-chunk-claims-2-6-gb.webp");
    let photo = pipeline
        .upload_file(SELLER, "sku-w6", Some(&receiver.url), damaged.to_vec())
        .await
        .unwrap();

    let delivered = outcome(&pipeline, photo).await;
    assert_eq!(delivered["event_type"], "PhotoWebhookDelivered");
    assert_eq!(delivered["payload"]["webhook"]["type"], "photo.failed");
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].verifies_with(&secret));
    let body = &received[0].body;
    assert_eq!(body["type"], "photo.failed");
    assert_eq!(body["photo"]["status"], "failed");
    assert!(
        body["photo"]["failure_reason"]
            .as_str()
            .unwrap()
            .contains("damaged"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_is_given_up_while_others_are_delivered() {
    let silent = Receiver::start(Answers::Never).await.unwrap();
    let healthy = Receiver::start(Answers::Script(vec![])).await.unwrap();
    // Each attempt hangs for the whole timeout, longer than the other photo's whole way from
    // upload to delivered webhook: that one must get through while this one hangs.
    let mut config = notifier_config();
    config.timeout_secs = 20;
    config.give_up_after_secs = 30;
    let pipeline = Pipeline::start_with(Stack::create().await.unwrap(), config)
        .await
        .unwrap();
    let secret = pipeline.write.webhook_secret(SELLER).await.unwrap();

    let stuck = pipeline
        .upload(SELLER, "sku-w2", Some(&silent.url))
        .await
        .unwrap();
    eventually(Duration::from_secs(60), || async {
        Ok((!silent.received().is_empty()).then_some(()))
    })
    .await
    .unwrap();
    // While the silent receiver is being retried, another photo's webhook goes through.
    let fine = pipeline
        .upload(SELLER, "sku-w3", Some(&healthy.url))
        .await
        .unwrap();
    let delivered = outcome(&pipeline, fine).await;
    assert_eq!(delivered["event_type"], "PhotoWebhookDelivered");
    assert_eq!(healthy.received().len(), 1);
    assert_eq!(
        silent.received().len(),
        1,
        "the other photo's webhook waited for the silent receiver's first attempt to end"
    );
    assert!(of_type(&history(&pipeline, stuck).await, "PhotoWebhookGaveUp").is_empty());

    let gave_up = outcome(&pipeline, stuck).await;
    assert_eq!(gave_up["event_type"], "PhotoWebhookGaveUp");
    let payload = &gave_up["payload"];
    let attempts = silent.received().len();
    assert!(attempts >= 2, "only {attempts} attempts");
    assert_eq!(payload["attempts"], attempts);
    assert_eq!(payload["reason"], "the receiver did not answer in time");
    assert!(payload.get("last_status").is_none());
    assert!(
        silent
            .received()
            .iter()
            .all(|request| request.verifies_with(&secret))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_urls_to_private_addresses_are_refused_at_submission() {
    // The production policy: https only, no allowed networks.
    let api = WriteApi::spawn().await.unwrap();
    let body = |url: &str| {
        json!({
            "product_id": "sku-w4",
            "filename": "p.jpg",
            "content_type": "image/jpeg",
            "size_bytes": 1000,
            "callback_url": url,
        })
    };
    // The refusal does not say which address: what a name resolves to inside our network is
    // not the seller's to learn.
    let not_public = "its host does not resolve to a public address";
    for (url, detail) in [
        ("https://169.254.169.254/latest/meta-data", not_public),
        ("https://10.0.0.1/hook", not_public),
        ("https://[::ffff:a9fe:a9fe]/hook", not_public),
        // A name that resolves to loopback, and one that does not resolve: alike, so that
        // internal names cannot be probed.
        ("https://localhost/hook", not_public),
        ("https://no-such-host.invalid/hook", not_public),
        ("http://203.0.113.7/hook", "must be an absolute https URL"),
    ] {
        let response = api.create(SELLER, &body(url)).await.unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY)
            .await
            .unwrap();
        let errors = problem["errors"].to_string();
        assert!(errors.contains("callback_url"), "{url}: {problem}");
        assert!(errors.contains(detail), "{url}: {problem}");
    }
    assert!(api.events().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_refused_at_call_time_is_given_up_without_a_request() {
    // Accepted at submission (the write API allows loopback), but by the time the notifier
    // calls, the address is one it must refuse: as when DNS changed in between.
    let receiver = Receiver::start(Answers::Script(vec![])).await.unwrap();
    let mut config = notifier_config();
    config.policy.allowed_networks.clear();
    let pipeline = Pipeline::start_with(Stack::create().await.unwrap(), config)
        .await
        .unwrap();
    pipeline.write.webhook_secret(SELLER).await.unwrap();
    // A name, so that the refusal comes from the lookup the notifier's client makes itself.
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let photo = pipeline
        .upload(SELLER, "sku-w5", Some(&by_name))
        .await
        .unwrap();

    let gave_up = outcome(&pipeline, photo).await;
    assert_eq!(gave_up["event_type"], "PhotoWebhookGaveUp");
    assert_eq!(gave_up["payload"]["attempts"], 1);
    assert_eq!(
        gave_up["payload"]["reason"],
        "the callback URL was refused: its host does not resolve to a public address"
    );
    assert!(receiver.received().is_empty());
}

/// Each seller's webhooks are signed with that seller's own secrets: another seller's secret
/// (or any shared one) does not verify them, and during a rotation both of the seller's do.
/// Without a secret, a callback URL is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sellers_webhooks_are_signed_with_its_own_secrets() {
    let receiver = Receiver::start(Answers::Script(vec![])).await.unwrap();
    let pipeline = Pipeline::start().await.unwrap();
    let refused = pipeline
        .upload("seller-a", "sku-a", Some(&receiver.url))
        .await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|error| error.to_string().contains("webhook secret")),
        "{refused:?}"
    );
    let first = pipeline.write.webhook_secret("seller-a").await.unwrap();
    let rotated = pipeline.write.webhook_secret("seller-a").await.unwrap();
    assert_ne!(first, rotated);
    let other = pipeline.write.webhook_secret("seller-b").await.unwrap();
    let photo = pipeline
        .upload("seller-a", "sku-a", Some(&receiver.url))
        .await
        .unwrap();
    pipeline.ready(photo).await.unwrap();
    eventually(Duration::from_secs(60), || async {
        Ok((!receiver.received().is_empty()).then_some(()))
    })
    .await
    .unwrap();
    let webhook = &receiver.received()[0];
    assert!(webhook.verifies_with(&rotated), "the new secret signs");
    assert!(
        webhook.verifies_with(&first),
        "the rotated one signs beside it for a day"
    );
    assert!(
        !webhook.verifies_with(&other),
        "another seller's secret does not verify"
    );
    assert!(!webhook.verifies_with("whsec_dGVzdC13ZWJob29rLXNlY3JldC0xMjM0NTY3OA=="));
    // A retry with the same Idempotency-Key answers the same secret, and rotates nothing.
    let again = |key: &'static str| {
        pipeline
            .write
            .as_seller(Method::POST, "/v1/webhook-secret", "seller-b")
            .header("idempotency-key", key)
            .send()
    };
    let first_answer = expect_json(again("k1").await.unwrap(), StatusCode::CREATED)
        .await
        .unwrap();
    let replayed = expect_json(again("k1").await.unwrap(), StatusCode::CREATED)
        .await
        .unwrap();
    assert_eq!(first_answer, replayed);
    assert_ne!(first_answer["secret"], other);
}
