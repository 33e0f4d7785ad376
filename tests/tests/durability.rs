//! Nothing written is lost and no photo is left stuck: an upload whose client never says it
//! is done, a processor that dies on a job's last receive, an event the relay cannot publish,
//! a crash between an append and its answer, PostgreSQL going away.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use catalog_event_store::aggregate::{PhotoCommand, PhotoServices};
use catalog_event_store::store::{self, PhotoStore};
use catalog_events::resources::QueueRole;
use catalog_events::{PhotoState, PhotoStatus};
use catalog_relay::{Relay, quarantine};
use catalog_runtime::redrive::redrive;
use catalog_tests::pipeline::{Pipeline, Process, Stack, relay_config};
use catalog_tests::{WriteApi, eventually, expect_json, fresh_database, jpeg, sha256_hex};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
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

/// Appends an event behind the write side's back, as a bug or a hand edit could.
async fn append_raw(store: &PhotoStore, photo: Uuid, sequence: i64, kind: &str, payload: Value) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, metadata) VALUES ('Photo', $1, $2, $3, '1', $4, '{}')",
    )
    .bind(photo.to_string())
    .bind(sequence)
    .bind(kind)
    .bind(payload)
    .execute(store.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn an_event_that_can_never_be_published_is_set_aside_and_the_rest_flow() {
    let stack = Stack::create().await.unwrap();
    let url = fresh_database().await.unwrap();
    let store = PhotoStore::new(
        store::connect(&url, 4).await.unwrap(),
        PhotoServices::default(),
    );
    // 50 photos of two events each, and two poison events among them: one unreadable, one
    // over EventBridge's 256 KB; each followed by a good event of its photo.
    let mut photos = Vec::new();
    for n in 0..50 {
        let photo = Uuid::now_v7();
        let record = PhotoCommand::RecordUpload {
            request: catalog_tests::upload_request(photo, SELLER, &format!("sku-{n}")),
            stored_size: 100,
        };
        store.execute(photo, record, "test").await.unwrap();
        photos.push(photo);
    }
    let (unreadable, oversized) = (photos[10], photos[20]);
    append_raw(
        &store,
        unreadable,
        3,
        "PhotoDetailsUpdated",
        json!({"no": "such shape"}),
    )
    .await;
    let huge = "x".repeat(300 * 1024);
    let caption = |caption: &str| json!({"type": "PhotoDetailsUpdated", "occurred_at": "2026-01-01T00:00:00Z", "caption": caption});
    append_raw(&store, oversized, 3, "PhotoDetailsUpdated", caption(&huge)).await;
    for photo in [unreadable, oversized] {
        append_raw(&store, photo, 4, "PhotoDetailsUpdated", caption("after")).await;
    }

    let relay = Relay::new(
        store.pool().clone(),
        &stack.sdk,
        &stack.resources,
        relay_config(),
    );
    let mut rounds = Vec::new();
    loop {
        let round = relay.round().await.unwrap();
        if round.claimed == 0 {
            break;
        }
        rounds.push(round);
    }
    let published: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE published_at IS NOT NULL")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(published, 102, "every good event is published: {rounds:?}");
    let aside = quarantine::list(store.pool()).await.unwrap();
    let aside: Vec<(String, i64)> = aside
        .iter()
        .map(|event| (event.photo_id.clone(), event.sequence))
        .collect();
    assert_eq!(
        aside,
        [(unreadable.to_string(), 3), (oversized.to_string(), 3)]
    );
    // The bus has every good event (the projector's rule takes them all), and no other.
    eventually(Duration::from_secs(30), || async {
        Ok((stack.queued(QueueRole::Projector).await? == 102).then_some(()))
    })
    .await
    .unwrap();

    // Released, they are claimed again, and set aside again: nothing about them changed.
    assert_eq!(quarantine::release(store.pool()).await.unwrap(), 2);
    let round = relay.round().await.unwrap();
    assert_eq!((round.claimed, round.quarantined), (2, 2));
}

/// `POST /v1/photos` under `key` against the write API at `base`.
async fn create_keyed(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    key: &str,
) -> reqwest::Result<reqwest::Response> {
    let body = json!({
        "product_id": "sku-keyed", "filename": "a.jpg", "content_type": "image/jpeg",
        "size_bytes": 1000, "caption": key,
    });
    http.post(format!("{base}/v1/photos"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_api_killed_mid_request_leaves_one_photo_per_key_and_retries_get_it() {
    let stack = Stack::create().await.unwrap();
    let url = fresh_database().await.unwrap();
    let secret = format!("crash-test-{}", Uuid::new_v4());
    let token = catalog_http::auth::issue(
        Some(&secret.clone().into()),
        SELLER,
        std::time::SystemTime::now() + Duration::from_secs(3600),
    )
    .unwrap();
    let address = format!("127.0.0.1:{}", catalog_tests::free_port().unwrap());
    let base = format!("http://{address}");
    let variables = [
        ("CATALOG_WRITE_ADDR", address.as_str()),
        ("CATALOG_JWT_SECRET", secret.as_str()),
        ("CATALOG_SELLER_RATE_BURST", "100000"),
    ];
    let start = || Process::start_with(&stack, &url, &["write-api"], &variables).unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let up = || async {
        eventually(Duration::from_secs(30), || async {
            let ready = http.get(format!("{base}/readyz")).send().await;
            Ok(ready
                .is_ok_and(|ready| ready.status().is_success())
                .then_some(()))
        })
        .await
        .unwrap()
    };
    let store = PhotoStore::new(
        store::connect(&url, 2).await.unwrap(),
        PhotoServices::default(),
    );
    let requested = || async {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE event_type = 'PhotoUploadRequested'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        count
    };

    // 300 creates at once, each under its own key; the API dies while they are under way.
    let api = start();
    up().await;
    let keys: Vec<String> = (0..300).map(|n| format!("crash-{n}")).collect();
    let first: Vec<_> = keys
        .iter()
        .map(|key| {
            let (http, base, token, key) = (http.clone(), base.clone(), token.clone(), key.clone());
            tokio::spawn(async move { create_keyed(&http, &base, &token, &key).await })
        })
        .collect();
    // Killed as soon as the first photos are in: the rest are anywhere between arriving and
    // answering.
    while requested().await < 5 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    api.kill().unwrap();
    let mut answered_first = HashMap::new();
    for (key, request) in keys.iter().zip(first) {
        if let Ok(Ok(response)) = request.await
            && response.status() == StatusCode::CREATED
        {
            let body: Value = response.json().await.unwrap();
            answered_first.insert(key.clone(), body["photo_id"].as_str().unwrap().to_owned());
        }
    }
    let at_kill = requested().await as usize;
    println!(
        "photos at the kill: {at_kill}; answered before it: {}",
        answered_first.len()
    );
    assert!(
        at_kill < keys.len(),
        "the API was killed before it finished"
    );

    // Started again, every retry gets the first answer's photo, and each key made one photo.
    let _api = start();
    up().await;
    let mut photos = HashSet::new();
    for key in &keys {
        let answer = eventually(Duration::from_secs(60), || async {
            let response = create_keyed(&http, &base, &token, key).await?;
            if response.status() == StatusCode::CONFLICT {
                // A claim of the killed process, until it is presumed dead.
                return Ok(None);
            }
            Ok(Some(expect_json(response, StatusCode::CREATED).await?))
        })
        .await
        .unwrap();
        let photo = answer["photo_id"].as_str().unwrap().to_owned();
        if let Some(first) = answered_first.get(key) {
            assert_eq!(&photo, first, "{key} answered another photo");
        }
        let state = store.load(photo.parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(state.caption.as_deref(), Some(key.as_str()));
        photos.insert(photo);
    }
    assert_eq!(photos.len(), keys.len());
    assert_eq!(
        requested().await as usize,
        keys.len(),
        "a key made two photos"
    );
}
