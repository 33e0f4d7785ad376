//! Products and their galleries through the running services: a product is its first seller's,
//! its gallery comes in the seller's order, `GET /v1/products/{id}` names the primary photo,
//! and the inventory's status filter gives full pages.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use catalog_events::{PhotoState, PhotoStatus};
use catalog_projections::item::{self, Guard};
use catalog_tests::page_ids as ids;
use catalog_tests::pipeline::Pipeline;
use catalog_tests::{eventually, expect_json, expect_problem, upload_request};
use chrono::TimeDelta;
use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

async fn get(pipeline: &Pipeline, path: &str, seller: Option<&str>) -> reqwest::Response {
    let mut request = pipeline.write.http.get(pipeline.read(path));
    if let Some(seller) = seller {
        request = request.bearer_auth(pipeline.write.token(seller));
    }
    request.send().await.unwrap()
}

async fn reorder(
    pipeline: &Pipeline,
    seller: &str,
    product: &str,
    ids: &[Uuid],
) -> reqwest::Response {
    pipeline
        .write
        .http
        .put(
            pipeline
                .write
                .url(&format!("/v1/products/{product}/photo-order")),
        )
        .bearer_auth(pipeline.write.token(seller))
        .json(&json!({ "photo_ids": ids }))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_orders_its_gallery_and_no_other_seller_can_touch_the_product() {
    let pipeline = Pipeline::start().await.unwrap();
    let mut photos = Vec::new();
    for _ in 0..3 {
        let photo = pipeline.upload("seller-a", "P", None).await.unwrap();
        pipeline.ready(photo).await.unwrap();
        photos.push(photo);
    }
    let [a, b, c] = photos[..] else {
        unreachable!()
    };

    let answer = expect_json(
        reorder(&pipeline, "seller-a", "P", &[c, a, b]).await,
        StatusCode::OK,
    )
    .await
    .unwrap();
    assert_eq!(answer, json!({"product_id": "P", "version": 1}));

    // Another seller may neither add a photo to the product nor reorder it.
    let theirs = pipeline
        .write
        .http
        .post(pipeline.write.url("/v1/photos"))
        .bearer_auth(pipeline.write.token("seller-b"))
        .json(&json!({
            "product_id": "P", "filename": "b.jpg", "content_type": "image/jpeg", "size_bytes": 100
        }))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(theirs, StatusCode::CONFLICT).await.unwrap();
    assert!(
        problem["type"].as_str().unwrap().ends_with("product-owned"),
        "{problem}"
    );
    let multipart = pipeline.upload("seller-b", "P", None).await;
    assert!(multipart.unwrap_err().to_string().contains("409"));
    let problem = expect_problem(
        reorder(&pipeline, "seller-b", "P", &[a]).await,
        StatusCode::CONFLICT,
    )
    .await
    .unwrap();
    assert!(
        problem["type"].as_str().unwrap().ends_with("product-owned"),
        "{problem}"
    );
    let elsewhere = pipeline.upload("seller-a", "Q", None).await.unwrap();
    expect_problem(
        reorder(&pipeline, "seller-a", "P", &[elsewhere]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
    .unwrap();

    // The public gallery in the seller's order, and the product with its primary photo.
    let expected: Vec<String> = [c, a, b].iter().map(Uuid::to_string).collect();
    eventually(Duration::from_secs(30), || async {
        let page = expect_json(
            get(&pipeline, "/v1/products/P/photos", None).await,
            StatusCode::OK,
        )
        .await?;
        Ok((ids(&page) == expected).then_some(()))
    })
    .await
    .unwrap();
    let second = expect_json(
        get(&pipeline, "/v1/products/P/photos?limit=2", None).await,
        StatusCode::OK,
    )
    .await
    .unwrap();
    let cursor = second["next_cursor"].as_str().unwrap();
    let rest = expect_json(
        get(
            &pipeline,
            &format!("/v1/products/P/photos?limit=2&cursor={cursor}"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await
    .unwrap();
    assert_eq!([ids(&second), ids(&rest)].concat(), expected);
    assert_eq!(rest["next_cursor"], Value::Null);

    let product = expect_json(get(&pipeline, "/v1/products/P", None).await, StatusCode::OK)
        .await
        .unwrap();
    assert_eq!(product["product_id"], "P");
    assert_eq!(product["seller_id"], "seller-a");
    assert_eq!(product["photo_count"], 3);
    assert_eq!(product["primary_photo"]["photo_id"], c.to_string());
    expect_problem(
        get(&pipeline, "/v1/products/nothing-here", None).await,
        StatusCode::NOT_FOUND,
    )
    .await
    .unwrap();

    // The reorder is in the photo's history.
    let history = expect_json(
        pipeline
            .write
            .http
            .get(pipeline.write.url(&format!("/v1/photos/{c}/history")))
            .bearer_auth(pipeline.write.token("seller-a"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
    .unwrap();
    let types: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["event_type"].as_str().unwrap())
        .collect();
    // After the photo was processed (its AVIF, made after ready, may come before or after).
    let processed = types.iter().position(|t| *t == "PhotoProcessed");
    let reordered = types.iter().rposition(|t| *t == "PhotoReordered");
    assert!(processed.is_some() && reordered > processed, "{types:?}");

    // A photo added since follows the placed ones.
    let newer = pipeline.upload("seller-a", "P", None).await.unwrap();
    pipeline.ready(newer).await.unwrap();
    let with_newer: Vec<String> = expected
        .iter()
        .cloned()
        .chain([newer.to_string()])
        .collect();
    eventually(Duration::from_secs(30), || async {
        let page = expect_json(
            get(&pipeline, "/v1/products/P/photos", None).await,
            StatusCode::OK,
        )
        .await?;
        Ok((ids(&page) == with_newer).then_some(()))
    })
    .await
    .unwrap();
}

/// A photo of `seller` in `status`, created `minutes` after a fixed time.
fn photo(seller: &str, status: PhotoStatus, minutes: i64) -> PhotoState {
    let id = Uuid::now_v7();
    let mut request = upload_request(id, seller, &format!("{seller}-product"));
    request.occurred_at =
        chrono::DateTime::UNIX_EPOCH + TimeDelta::days(20_000) + TimeDelta::minutes(minutes);
    let mut state = PhotoState::new(&request);
    state.status = status;
    state.version = 4;
    state
}

/// Pages through the seller's inventory of `status`, `limit` at a time; every page but the
/// last must be full, and the last must have no cursor.
async fn inventory(
    pipeline: &Pipeline,
    seller: &str,
    status: PhotoStatus,
    limit: usize,
) -> Vec<String> {
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/sellers/me/photos?status={status}&limit={limit}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = expect_json(get(pipeline, &path, Some(seller)).await, StatusCode::OK)
            .await
            .unwrap();
        let items = ids(&page);
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), limit, "a page with a next cursor is full");
                cursor = Some(next.to_owned());
                listed.extend(items);
            }
            None => {
                listed.extend(items);
                return listed;
            }
        }
    }
}

async fn store(pipeline: &Pipeline, photos: &[PhotoState]) {
    for state in photos {
        item::put(
            &pipeline.stack.dynamodb,
            &pipeline.stack.resources.table.name,
            state,
            Guard::Older,
        )
        .await
        .unwrap();
    }
}

/// The newest first ids of the photos in `status`.
fn expected(photos: &[PhotoState], status: PhotoStatus) -> Vec<String> {
    let mut of_status: Vec<&PhotoState> = photos.iter().filter(|p| p.status == status).collect();
    of_status.sort_by_key(|p| std::cmp::Reverse((p.created_at, p.photo_id)));
    of_status.iter().map(|p| p.photo_id.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_filtered_by_status_gives_the_three_failed_photos_on_one_page() {
    let pipeline = Pipeline::start().await.unwrap();
    let mut photos: Vec<PhotoState> = (0..20)
        .map(|n| photo("seller-a", PhotoStatus::Ready, n))
        .collect();
    for n in [2, 9, 17] {
        photos.push(photo("seller-a", PhotoStatus::Failed, n));
    }
    store(&pipeline, &photos).await;
    let page = expect_json(
        get(
            &pipeline,
            "/v1/sellers/me/photos?status=failed&limit=5",
            Some("seller-a"),
        )
        .await,
        StatusCode::OK,
    )
    .await
    .unwrap();
    assert_eq!(ids(&page), expected(&photos, PhotoStatus::Failed));
    assert_eq!(page["next_cursor"], Value::Null);
    assert_eq!(
        inventory(&pipeline, "seller-a", PhotoStatus::Ready, 5).await,
        expected(&photos, PhotoStatus::Ready)
    );
}

#[test]
fn any_mix_of_statuses_pages_full_and_complete_for_every_limit() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pipeline = runtime.block_on(Pipeline::start()).unwrap();
    let statuses = prop_oneof![
        Just(PhotoStatus::PendingUpload),
        Just(PhotoStatus::Uploaded),
        Just(PhotoStatus::Processing),
        Just(PhotoStatus::Ready),
        Just(PhotoStatus::Failed),
        Just(PhotoStatus::Deleted),
    ];
    let config = ProptestConfig {
        cases: 6,
        ..ProptestConfig::default()
    };
    proptest!(config, |(mix in proptest::collection::vec(statuses, 0..25), limit in 1usize..8, asked in 0usize..6)| {
        let seller = format!("seller-{}", Uuid::new_v4().simple());
        let photos: Vec<PhotoState> = mix
            .iter()
            .enumerate()
            .map(|(n, status)| photo(&seller, *status, n as i64))
            .collect();
        let status = [
            PhotoStatus::PendingUpload,
            PhotoStatus::Uploaded,
            PhotoStatus::Processing,
            PhotoStatus::Ready,
            PhotoStatus::Failed,
            PhotoStatus::Ready,
        ][asked];
        let listed = runtime.block_on(async {
            store(&pipeline, &photos).await;
            inventory(&pipeline, &seller, status, limit).await
        });
        prop_assert_eq!(listed, expected(&photos, status));
    });
}
