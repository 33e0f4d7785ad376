//! Nothing written is lost and no photo is left stuck: an upload whose client never says it
//! is done, a processor that dies on a job's last receive, an event the relay cannot publish,
//! a crash between an append and its answer, PostgreSQL going away.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use catalog_tests::pipeline::Pipeline;
use catalog_tests::{expect_json, jpeg, sha256_hex};
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
