//! Replacing a photo's original, on the whole pipeline: the previous variants are served until
//! the new ones are ready; then the photo shows the new original under the same id, in the
//! same gallery place, and the previous variants' URLs answer 404 and the previous original is
//! gone from every version of the bucket.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use catalog_tests::pipeline::Pipeline;
use catalog_tests::{eventually, expect_json, expect_problem, jpeg, page_ids, sha256_hex};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const SELLER: &str = "seller-replace";
const PRODUCT: &str = "sku-replace";

async fn read(pipeline: &Pipeline, path: &str) -> Value {
    let response = pipeline
        .write
        .http
        .get(pipeline.read(path))
        .send()
        .await
        .unwrap();
    expect_json(response, StatusCode::OK).await.unwrap()
}

fn urls(photo: &Value) -> Vec<String> {
    let mut urls = Vec::new();
    for variant in photo["variants"].as_object().unwrap().values() {
        urls.push(variant["url"].as_str().unwrap().to_owned());
        for format in variant["formats"].as_object().unwrap().values() {
            urls.push(format["url"].as_str().unwrap().to_owned());
        }
    }
    urls
}

async fn status_of(pipeline: &Pipeline, url: &str) -> StatusCode {
    pipeline.write.http.get(url).send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_photo_keeps_its_id_and_gallery_place_and_its_old_variants_go() {
    let pipeline = Pipeline::start().await.unwrap();
    let first = pipeline
        .upload_file(SELLER, PRODUCT, None, jpeg(320, 240))
        .await
        .unwrap();
    let second = pipeline
        .upload_file(SELLER, PRODUCT, None, jpeg(320, 240))
        .await
        .unwrap();
    for photo in [first, second] {
        pipeline.settled(photo).await.unwrap();
    }
    let order = pipeline
        .write
        .as_seller(
            Method::PUT,
            &format!("/v1/products/{PRODUCT}/photo-order"),
            SELLER,
        )
        .json(&json!({ "photo_ids": [first, second] }))
        .send()
        .await
        .unwrap();
    expect_json(order, StatusCode::OK).await.unwrap();
    let before = eventually(Duration::from_secs(30), || async {
        let gallery = read(&pipeline, &format!("/v1/products/{PRODUCT}/photos")).await;
        let ids = page_ids(&gallery);
        Ok((ids == [first.to_string(), second.to_string()]).then_some(gallery))
    })
    .await
    .unwrap();
    let old_urls = urls(&before["items"][0]);
    assert!(old_urls.len() >= 4);

    // The new original: declared, then uploaded to the URL the answer gives.
    let bytes = jpeg(480, 360);
    let replace = |body: Value| {
        pipeline
            .write
            .as_seller(Method::POST, &format!("/v1/photos/{first}/replace"), SELLER)
            .json(&body)
            .send()
    };
    let body = json!({
        "filename": "re-shot.jpg",
        "content_type": "image/jpeg",
        "size_bytes": bytes.len(),
        "checksum_sha256": sha256_hex(&bytes),
        "caption": "Re-shot in daylight",
    });
    let created = expect_json(replace(body.clone()).await.unwrap(), StatusCode::CREATED)
        .await
        .unwrap();
    assert_eq!(created["photo_id"], first.to_string());
    assert_eq!(created["status"], "ready");
    // Until the new original is rendered, the photo is served as it was.
    for url in &old_urls {
        assert_eq!(status_of(&pipeline, url).await, StatusCode::OK, "{url}");
    }
    let put = pipeline
        .write
        .put_presigned(&created, bytes.clone())
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());
    let completed = pipeline
        .write
        .as_seller(
            Method::POST,
            &format!("/v1/photos/{first}/upload-complete"),
            SELLER,
        )
        .send()
        .await
        .unwrap();
    expect_json(completed, StatusCode::ACCEPTED).await.unwrap();

    // Rendered: the same photo, first in its gallery, showing the new original.
    let replaced = eventually(Duration::from_secs(60), || async {
        let state = pipeline.store.load(first).await?.unwrap();
        Ok((state.replacement.is_none() && state.width == Some(480)).then_some(state))
    })
    .await
    .unwrap();
    assert!(
        replaced
            .object_key
            .starts_with(&format!("originals/{first}.")),
        "{}",
        replaced.object_key
    );
    assert_eq!(replaced.filename, "re-shot.jpg");
    let after = eventually(Duration::from_secs(30), || async {
        let gallery = read(&pipeline, &format!("/v1/products/{PRODUCT}/photos")).await;
        let shown = &gallery["items"][0];
        Ok((shown["width"] == 480).then(|| gallery.clone()))
    })
    .await
    .unwrap();
    assert_eq!(page_ids(&after), [first.to_string(), second.to_string()]);
    let shown = &after["items"][0];
    assert_eq!(shown["caption"], "Re-shot in daylight");
    assert_eq!(shown["status"], "ready");
    for url in urls(shown) {
        assert!(!old_urls.contains(&url), "{url}");
        assert_eq!(status_of(&pipeline, &url).await, StatusCode::OK, "{url}");
    }
    // What it showed before goes: the old variants answer 404, the old original is gone.
    eventually(Duration::from_secs(30), || async {
        for url in &old_urls {
            if status_of(&pipeline, url).await != StatusCode::NOT_FOUND {
                return Ok(None);
            }
        }
        Ok(Some(()))
    })
    .await
    .unwrap();
    let old_original = format!("originals/{first}");
    assert_eq!(
        pipeline
            .stack
            .original_versions(&old_original)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        pipeline
            .stack
            .original_versions(&replaced.object_key)
            .await
            .unwrap(),
        1
    );

    // A product cannot be given, nor another seller's photo replaced, nor a missing one.
    let mut with_product = body.clone();
    with_product["product_id"] = json!("elsewhere");
    expect_problem(
        replace(with_product).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
    .unwrap();
    let foreign = pipeline
        .write
        .as_seller(
            Method::POST,
            &format!("/v1/photos/{first}/replace"),
            "someone",
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_problem(foreign, StatusCode::NOT_FOUND)
        .await
        .unwrap();
    let missing = pipeline
        .write
        .as_seller(
            Method::POST,
            &format!("/v1/photos/{}/replace", Uuid::now_v7()),
            SELLER,
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_problem(missing, StatusCode::NOT_FOUND)
        .await
        .unwrap();
}
