//! Replayed webhooks, end to end: an endpoint down long enough that the notifier gave up on
//! every webhook gets, from a replay, each missed `photo.ready` once per `webhook-id` (the ids
//! and bodies of the originals, signed), and the replay's progress is readable; the refusals
//! of the replay call.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use catalog_tests::pipeline::{Pipeline, Stack, notifier_config};
use catalog_tests::receiver::{Answers, Receiver};
use catalog_tests::{eventually, expect_json, expect_problem, jpeg};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const SELLER: &str = "seller-replay";

async fn history(pipeline: &Pipeline, photo: Uuid) -> Vec<Value> {
    let response = pipeline
        .write
        .as_seller(Method::GET, &format!("/v1/photos/{photo}/history"), SELLER)
        .send()
        .await
        .unwrap();
    expect_json(response, StatusCode::OK).await.unwrap()["events"]
        .as_array()
        .unwrap()
        .clone()
}

async fn post_replay(pipeline: &Pipeline, body: Value) -> reqwest::Response {
    pipeline
        .write
        .as_seller(Method::POST, "/v1/webhooks/replay", SELLER)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_after_an_endpoint_was_down_delivers_each_missed_webhook_once_per_id() {
    let receiver = Receiver::start(Answers::Script(vec![])).await.unwrap();
    receiver.set_down(true);
    let mut config = notifier_config();
    // The notifier gives up soon, as it would after hours in production.
    config.give_up_after_secs = 3;
    let pipeline = Pipeline::start_with(Stack::create().await.unwrap(), config)
        .await
        .unwrap();
    let secret = pipeline.write.webhook_secret(SELLER).await.unwrap();
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let mut photos = Vec::new();
    for n in 0..3 {
        let photo = pipeline
            .upload_file(
                SELLER,
                &format!("sku-r{n}"),
                Some(&receiver.url),
                jpeg(32, 24),
            )
            .await
            .unwrap();
        photos.push(photo);
    }
    // Every webhook was given up while the endpoint was down.
    let mut given_up = BTreeMap::new();
    for photo in &photos {
        let gave_up = eventually(Duration::from_secs(60), || async {
            Ok(history(&pipeline, *photo)
                .await
                .into_iter()
                .find(|event| event["event_type"] == "PhotoWebhookGaveUp"))
        })
        .await
        .unwrap();
        given_up.insert(
            gave_up["payload"]["webhook"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
            *photo,
        );
    }
    assert_eq!(given_up.len(), 3);
    let before = receiver.received().len();
    assert!(before >= 3, "each was tried while down");

    // Back up: the seller asks for a replay, and follows it.
    receiver.set_down(false);
    let response = post_replay(&pipeline, json!({ "since": since.to_rfc3339() })).await;
    let location = response
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let started = expect_json(response, StatusCode::ACCEPTED).await.unwrap();
    assert_eq!(started["status"], "running");
    assert!(location.ends_with(started["replay_id"].as_str().unwrap()));
    // One at a time per seller.
    let again = expect_problem(
        post_replay(&pipeline, json!({ "since": since.to_rfc3339() })).await,
        StatusCode::CONFLICT,
    )
    .await
    .unwrap();
    assert!(
        again["detail"]
            .as_str()
            .unwrap()
            .contains(started["replay_id"].as_str().unwrap())
    );
    let done = eventually(Duration::from_secs(60), || async {
        let progress = pipeline
            .write
            .as_seller(Method::GET, &location, SELLER)
            .send()
            .await?;
        let progress = expect_json(progress, StatusCode::OK).await?;
        Ok((progress["status"] == "done").then_some(progress))
    })
    .await
    .unwrap();
    assert_eq!(
        (&done["found"], &done["delivered"], &done["failed"]),
        (&json!(3), &json!(3), &json!(0)),
        "{done}"
    );

    // Each missed webhook arrived once more, under its original id, signed, with the photo as
    // it was when it became ready.
    let replayed: Vec<_> = receiver.received().split_off(before);
    let ids: BTreeSet<String> = replayed.iter().map(|r| r.webhook_id.clone()).collect();
    assert_eq!(ids, given_up.keys().cloned().collect::<BTreeSet<_>>());
    assert_eq!(replayed.len(), 3, "once per webhook-id");
    for request in &replayed {
        assert_eq!(request.answered, Some(200));
        assert!(request.verifies_with(&secret));
        assert_eq!(request.body["type"], "photo.ready");
        let photo = given_up[&request.webhook_id];
        assert_eq!(request.body["photo"]["photo_id"], photo.to_string());
        assert_eq!(request.body["photo"]["status"], "ready");
    }
    // The photos' histories still show the original outcome, nothing more.
    for photo in &photos {
        let events = history(&pipeline, *photo).await;
        assert!(
            !events
                .iter()
                .any(|event| event["event_type"] == "PhotoWebhookDelivered")
        );
    }

    // Another seller cannot read it; a replay reaching back too far, or into the future, is
    // refused.
    let foreign = pipeline
        .write
        .as_seller(Method::GET, &location, "someone-else")
        .send()
        .await
        .unwrap();
    expect_problem(foreign, StatusCode::NOT_FOUND)
        .await
        .unwrap();
    for since in [
        chrono::Utc::now() - chrono::Duration::days(8),
        chrono::Utc::now() + chrono::Duration::hours(1),
    ] {
        let refused = expect_problem(
            post_replay(&pipeline, json!({ "since": since.to_rfc3339() })).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
        .unwrap();
        assert_eq!(refused["errors"][0]["field"], "since");
    }
    expect_problem(
        post_replay(&pipeline, json!({ "since": "yesterday" })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
    .unwrap();
}
