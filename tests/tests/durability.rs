//! Nothing written is lost and no photo is left stuck: an upload whose client never says it
//! is done, a processor that dies on a job's last receive, an event the relay cannot publish,
//! a crash between an append and its answer, PostgreSQL going away.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use catalog_events::resources::QueueRole;
use catalog_events::{PhotoState, PhotoStatus};
use catalog_runtime::redrive::redrive;
use catalog_tests::pipeline::{Pipeline, Process, Stack};
use catalog_tests::{WriteApi, eventually, expect_json, jpeg, sha256_hex};
use catalog_write_side::aggregate::PhotoServices;
use catalog_write_side::store::{self, PhotoStore};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

const SELLER: &str = "seller-a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_client_never_says_so_is_recorded_once_and_processed() {
    let pipeline = Pipeline::start().await.unwrap();
    let bytes = jpeg(64, 48);
    let body = json!({
        "product_id": "sku-orphan", "filename": "a.jpg", "content_type": "image/jpeg",
        "size_bytes": bytes.len(), "checksum_sha256": sha256_hex(&bytes),
    });
    let created = expect_json(
        pipeline.write.create(SELLER, &body).await.unwrap(),
        StatusCode::CREATED,
    )
    .await
    .unwrap();
    let photo: Uuid = created["photo_id"].as_str().unwrap().parse().unwrap();
    let put = pipeline.write.put_presigned(&created, bytes).await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());

    // The client is gone; S3's report alone takes the photo to ready.
    pipeline.ready(photo).await.unwrap();

    // Its late upload-complete finds the upload recorded and appends nothing.
    let late = pipeline
        .write
        .as_seller(
            Method::POST,
            &format!("/v1/photos/{photo}/upload-complete"),
            SELLER,
        )
        .send()
        .await
        .unwrap();
    expect_json(late, StatusCode::ACCEPTED).await.unwrap();
    let uploads = pipeline
        .write
        .events()
        .await
        .unwrap()
        .into_iter()
        .filter(|(id, _, kind)| *id == photo.to_string() && kind == "PhotoUploaded")
        .count();
    assert_eq!(uploads, 1);
}

/// Waits for the photo to reach `status`; returns its state then.
async fn status(store: &PhotoStore, photo: Uuid, status: PhotoStatus) -> PhotoState {
    eventually(Duration::from_secs(60), || async {
        let state = store.load(photo).await?.expect("the photo exists");
        Ok((state.status == status).then_some(state))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_killed_on_the_last_receive_leaves_the_photo_failed_not_stuck() {
    // One receive only: the first is the last. A killed job's message shows again in 2 s.
    let stack = Stack::create_with(|resources| {
        let images = resources
            .queues
            .iter_mut()
            .find(|queue| queue.role == QueueRole::Images)
            .unwrap();
        images.max_receive_count = 1;
        images.visibility_timeout_secs = 2;
    })
    .await
    .unwrap();
    let write = WriteApi::spawn_on(&stack.resources, |_| {}).await.unwrap();
    let store = PhotoStore::new(
        store::connect(&write.database_url, 2).await.unwrap(),
        PhotoServices::default(),
    );
    let _relay = Process::start(&stack, &write.database_url, &["relay"]).unwrap();
    let doomed = Process::start(&stack, &write.database_url, &["process-images"]).unwrap();

    // Large enough that rendering takes a while: the kill lands while the job runs.
    let photo = write
        .upload_file(SELLER, "sku-killed", None, jpeg(4000, 3000))
        .await
        .unwrap();
    status(&store, photo, PhotoStatus::Processing).await;
    doomed.kill().unwrap();

    // The next processor finds the job dead-lettered and fails the photo, with a reason.
    let _processor = Process::start(&stack, &write.database_url, &["process-images"]).unwrap();
    let failed = status(&store, photo, PhotoStatus::Failed).await;
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("the photo could not be processed; reprocess it to try again")
    );
    eventually(Duration::from_secs(30), || async {
        Ok((stack.dead_letters(QueueRole::Images).await? == 0).then_some(()))
    })
    .await
    .unwrap();

    // The seller does as told, and the photo becomes ready.
    let reprocess = write
        .as_seller(
            Method::POST,
            &format!("/v1/photos/{photo}/reprocess"),
            SELLER,
        )
        .send()
        .await
        .unwrap();
    expect_json(reprocess, StatusCode::ACCEPTED).await.unwrap();
    let ready = status(&store, photo, PhotoStatus::Ready).await;
    assert_eq!((ready.width, ready.height), (Some(4000), Some(3000)));
}

#[tokio::test]
async fn redrive_moves_dead_letters_back_to_their_queue() {
    let stack = Stack::create().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let dead_letters = stack.queue_url(QueueRole::Projector, true).await.unwrap();
    for n in 0..13 {
        sqs.send_message()
            .queue_url(&dead_letters)
            .message_body(format!("{{\"n\": {n}}}"))
            .send()
            .await
            .unwrap();
    }
    let moved = redrive(&stack.sdk, &stack.resources, QueueRole::Projector)
        .await
        .unwrap();
    assert_eq!(moved, 13);
    assert_eq!(stack.dead_letters(QueueRole::Projector).await.unwrap(), 0);
    assert_eq!(stack.queued(QueueRole::Projector).await.unwrap(), 13);
    // Nothing left: a second run moves nothing.
    assert_eq!(
        redrive(&stack.sdk, &stack.resources, QueueRole::Projector)
            .await
            .unwrap(),
        0
    );
}
