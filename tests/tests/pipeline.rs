//! The whole pipeline: a command on the write side reaches the read side through the outbox
//! relay, EventBridge, SQS and the projector, with the same version; deletions stay deleted;
//! the read API's answers, caching and refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use catalog_tests::page_ids as ids;
use catalog_tests::pipeline::Pipeline;
use catalog_tests::{expect_json, expect_problem, jpeg};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const SELLER: &str = "seller-a";

async fn upload(pipeline: &Pipeline, product: &str) -> Uuid {
    pipeline.upload(SELLER, product, None).await.unwrap()
}

async fn ready(pipeline: &Pipeline, photo: Uuid) -> u64 {
    pipeline.ready(photo).await.unwrap()
}

async fn read_photo(
    pipeline: &Pipeline,
    photo: Uuid,
    min_version: u64,
    seller: Option<&str>,
) -> reqwest::Response {
    let mut request = pipeline
        .write
        .http
        .get(pipeline.read(&format!("/v1/photos/{photo}?min_version={min_version}")));
    if let Some(seller) = seller {
        request = request.bearer_auth(pipeline.write.token(seller));
    }
    request.send().await.unwrap()
}

async fn list(pipeline: &Pipeline, path: &str, seller: Option<&str>) -> Value {
    let mut request = pipeline.write.http.get(pipeline.read(path));
    if let Some(seller) = seller {
        request = request.bearer_auth(pipeline.write.token(seller));
    }
    expect_json(request.send().await.unwrap(), StatusCode::OK)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_reaches_the_read_side_with_the_same_version() {
    let pipeline = Pipeline::start().await.unwrap();
    // Declared but never uploaded: it stays pending, visible to its owner only.
    let body = json!({"product_id": "sku-1", "filename": "a.jpg", "content_type": "image/jpeg", "size_bytes": 10});
    let created = expect_json(
        pipeline.write.create(SELLER, &body).await.unwrap(),
        StatusCode::CREATED,
    )
    .await
    .unwrap();
    let pending: Uuid = created["photo_id"].as_str().unwrap().parse().unwrap();
    let seen = expect_json(
        read_photo(&pipeline, pending, 1, Some(SELLER)).await,
        StatusCode::OK,
    )
    .await
    .unwrap();
    assert_eq!(
        (seen["status"].as_str(), seen["version"].as_u64()),
        (Some("pending_upload"), Some(1))
    );
    assert_eq!(seen["product_id"], "sku-1");
    expect_problem(
        read_photo(&pipeline, pending, 1, None).await,
        StatusCode::NOT_FOUND,
    )
    .await
    .unwrap();
    expect_problem(
        read_photo(&pipeline, pending, 1, Some("seller-b")).await,
        StatusCode::NOT_FOUND,
    )
    .await
    .unwrap();

    let patch = pipeline
        .write
        .as_seller(Method::PATCH, &format!("/v1/photos/{pending}"), SELLER)
        .json(&json!({"caption": "Side view", "tags": ["red"]}))
        .send()
        .await
        .unwrap();
    let version = expect_json(patch, StatusCode::OK).await.unwrap()["version"]
        .as_u64()
        .unwrap();
    let seen = expect_json(
        read_photo(&pipeline, pending, version, Some(SELLER)).await,
        StatusCode::OK,
    )
    .await
    .unwrap();
    assert_eq!(
        (seen["caption"].as_str(), seen["version"].as_u64()),
        (Some("Side view"), Some(version))
    );

    // Uploaded, processed by the image processor, public once ready (and settled: its AVIF
    // variants come after, and would change the ETag; large enough that they are lighter
    // than its JPEGs, so they come).
    let photo = pipeline
        .upload_file(SELLER, "sku-1", None, jpeg(320, 240))
        .await
        .unwrap();
    let ready = pipeline.settled(photo).await.unwrap();
    let public = read_photo(&pipeline, photo, ready, None).await;
    assert_eq!(
        public.headers()["cache-control"],
        "public, max-age=60, stale-while-revalidate=60, stale-if-error=3600"
    );
    let etag = public.headers()["etag"].to_str().unwrap().to_owned();
    let public = expect_json(public, StatusCode::OK).await.unwrap();
    assert_eq!(
        (public["status"].as_str(), public["version"].as_u64()),
        (Some("ready"), Some(ready))
    );
    let thumb = public["variants"]["thumb"]["url"].as_str().unwrap();
    let base = pipeline.stack.variants_base_url().unwrap();
    assert!(
        thumb.starts_with(&format!("{base}/variants/{photo}/")),
        "{thumb}"
    );
    assert!(thumb.ends_with("/thumb.jpg"), "{thumb}");
    assert_eq!(
        (public["width"].as_u64(), public["height"].as_u64()),
        (Some(320), Some(240))
    );

    let again = pipeline
        .write
        .http
        .get(pipeline.read(&format!("/v1/photos/{photo}")))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_photo_leaves_gallery_and_inventory_and_a_late_event_does_not_bring_it_back() {
    let pipeline = Pipeline::start().await.unwrap();
    let photo = upload(&pipeline, "sku-9").await;
    let ready = ready(&pipeline, photo).await;
    let shown = expect_json(
        read_photo(&pipeline, photo, ready, None).await,
        StatusCode::OK,
    )
    .await
    .unwrap();
    let variant_urls: Vec<String> = shown["variants"]
        .as_object()
        .unwrap()
        .values()
        .map(|variant| variant["url"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(variant_urls.len(), 4);
    for url in &variant_urls {
        let served = pipeline.write.http.get(url).send().await.unwrap();
        assert_eq!(served.status(), StatusCode::OK, "{url}");
    }
    let original = format!("originals/{photo}");
    assert_eq!(
        pipeline.stack.original_versions(&original).await.unwrap(),
        1
    );
    let patch = pipeline
        .write
        .as_seller(Method::PATCH, &format!("/v1/photos/{photo}"), SELLER)
        .json(&json!({"caption": "In our kitchen at 12 Elm Street", "tags": ["home"]}))
        .send()
        .await
        .unwrap();
    expect_json(patch, StatusCode::OK).await.unwrap();
    assert_eq!(
        ids(&list(&pipeline, "/v1/products/sku-9/photos", None).await),
        [photo.to_string()]
    );
    assert_eq!(
        ids(&list(&pipeline, "/v1/sellers/me/photos", Some(SELLER)).await),
        [photo.to_string()]
    );

    let deleted = pipeline
        .write
        .as_seller(Method::DELETE, &format!("/v1/photos/{photo}"), SELLER)
        .send()
        .await
        .unwrap();
    let version = expect_json(deleted, StatusCode::ACCEPTED).await.unwrap()["version"]
        .as_u64()
        .unwrap();
    let tombstone = expect_json(
        read_photo(&pipeline, photo, version, Some(SELLER)).await,
        StatusCode::OK,
    )
    .await
    .unwrap();
    assert_eq!(tombstone["status"], "deleted");
    expect_problem(
        read_photo(&pipeline, photo, version, None).await,
        StatusCode::NOT_FOUND,
    )
    .await
    .unwrap();
    assert!(ids(&list(&pipeline, "/v1/products/sku-9/photos", None).await).is_empty());
    assert!(ids(&list(&pipeline, "/v1/sellers/me/photos", Some(SELLER)).await).is_empty());
    assert_eq!(tombstone["caption"], Value::Null, "{tombstone}");
    assert_eq!(tombstone["tags"], json!([]), "{tombstone}");
    assert_eq!(tombstone["variants"], json!({}), "{tombstone}");

    // Its files go: every variant URL answers 404, and the original (with its metadata) is gone.
    catalog_tests::eventually(Duration::from_secs(30), || async {
        for url in &variant_urls {
            let served = pipeline.write.http.get(url).send().await?;
            if served.status() != StatusCode::NOT_FOUND {
                return Ok(None);
            }
        }
        Ok(Some(()))
    })
    .await
    .unwrap();
    // Every version of the original is gone (in a versioned bucket a delete only hides it).
    assert_eq!(
        pipeline.stack.original_versions(&original).await.unwrap(),
        0
    );

    // The ready envelope arrives again, late: it changes nothing.
    let settled = || {
        let stats = &pipeline.projector.stats;
        stats.ruled_out.load(std::sync::atomic::Ordering::Relaxed)
            + stats.superseded.load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = settled();
    let late = pipeline.envelope(photo, ready).await.unwrap();
    pipeline
        .stack
        .redeliver(catalog_events::resources::QueueRole::Projector, &late)
        .await
        .unwrap();
    catalog_tests::eventually(Duration::from_secs(20), || async {
        Ok((settled() > before).then_some(()))
    })
    .await
    .unwrap();
    let item = pipeline.stack.item(photo).await.unwrap().unwrap();
    assert_eq!(catalog_read_model::version(&item), Some(version));
    assert!(ids(&list(&pipeline, "/v1/products/sku-9/photos", None).await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_page_newest_first_with_cursors() {
    let pipeline = Pipeline::start().await.unwrap();
    let mut photos = Vec::new();
    for _ in 0..3 {
        let photo = upload(&pipeline, "sku-3").await;
        photos.push((photo, ready(&pipeline, photo).await));
    }
    catalog_tests::pipeline::projected(&pipeline.stack, &photos, Duration::from_secs(20))
        .await
        .unwrap();
    let newest_first: Vec<String> = photos
        .iter()
        .rev()
        .map(|(photo, _)| photo.to_string())
        .collect();
    let first = list(&pipeline, "/v1/products/sku-3/photos?limit=2", None).await;
    assert_eq!(ids(&first), newest_first[..2]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = list(
        &pipeline,
        &format!("/v1/products/sku-3/photos?limit=2&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(ids(&second), newest_first[2..]);

    let ready = list(
        &pipeline,
        "/v1/sellers/me/photos?status=ready&limit=100",
        Some(SELLER),
    )
    .await;
    assert_eq!(ids(&ready), newest_first);
    let failed = list(
        &pipeline,
        "/v1/sellers/me/photos?status=failed",
        Some(SELLER),
    )
    .await;
    assert!(ids(&failed).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_read_requests_get_a_clear_problem() {
    let pipeline = Pipeline::start().await.unwrap();
    let photo = upload(&pipeline, "sku-4").await;
    let ready_version = ready(&pipeline, photo).await;
    read_photo(&pipeline, photo, ready_version, None).await;
    let first = list(&pipeline, "/v1/products/sku-4/photos?limit=1", None).await;
    let get = |path: &str, seller: Option<&str>| {
        let mut request = pipeline.write.http.get(pipeline.read(path));
        if let Some(seller) = seller {
            request = request.bearer_auth(pipeline.write.token(seller));
        }
        request.send()
    };
    let other_product_cursor = format!(
        "/v1/products/sku-5/photos?cursor={}",
        first["next_cursor"].as_str().unwrap_or("x")
    );
    let cases = [
        (
            "/v1/products/sku-4/photos?cursor=not-a-cursor",
            None,
            StatusCode::BAD_REQUEST,
        ),
        (other_product_cursor.as_str(), None, StatusCode::BAD_REQUEST),
        (
            "/v1/products/sku-4/photos?limit=0",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/products/sku-4/photos?limit=101",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/products/sku-4/photos?limit=ten",
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/v1/products/sku-4/photos?colour=red",
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/v1/sellers/me/photos?status=lost",
            Some(SELLER),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/v1/sellers/me/photos", None, StatusCode::UNAUTHORIZED),
        ("/v1/photos/not-a-uuid", None, StatusCode::NOT_FOUND),
        (
            "/v1/photos/0190f5a4-7b1e-7cc0-8000-000000000001",
            None,
            StatusCode::NOT_FOUND,
        ),
    ];
    for (path, seller, status) in cases {
        let response = get(path, seller).await.unwrap();
        expect_problem(response, status)
            .await
            .unwrap_or_else(|error| panic!("{path}: {error}"));
    }
    // A token that does not verify: a ready photo is public and answers as to anyone; the
    // seller's own listing needs a valid one.
    let bad_token = |path: String| {
        pipeline
            .write
            .http
            .get(pipeline.read(&path))
            .bearer_auth("garbage")
            .send()
    };
    let public = bad_token(format!("/v1/photos/{photo}")).await.unwrap();
    assert_eq!(public.status(), StatusCode::OK);
    let own = bad_token("/v1/sellers/me/photos".to_owned()).await.unwrap();
    expect_problem(own, StatusCode::UNAUTHORIZED).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_your_writes_gives_up_with_503_when_the_version_never_comes() {
    let pipeline = Pipeline::start().await.unwrap();
    let photo = upload(&pipeline, "sku-6").await;
    let started = std::time::Instant::now();
    let response = pipeline
        .write
        .http
        .get(pipeline.read(&format!("/v1/photos/{photo}?min_version=99")))
        .bearer_auth(pipeline.write.token(SELLER))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("retry-after"));
    expect_problem(response, StatusCode::SERVICE_UNAVAILABLE)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "it waited for the configured 5 s"
    );
}

/// A browser page on the seller page's origin may call both APIs: preflights are answered for
/// it (and only for it), and the headers it needs to read are exposed.
#[tokio::test]
async fn both_apis_answer_cors_preflights_for_the_page_origin_only() {
    let pipeline = Pipeline::start().await.unwrap();
    let http = &pipeline.write.http;
    for (url, method) in [
        (pipeline.write.url("/v1/photos"), "POST"),
        (pipeline.write.url("/v1/photos/upload"), "POST"),
        (pipeline.read("/v1/sellers/me/photos"), "GET"),
    ] {
        let preflight = |origin: &'static str| {
            http.request(Method::OPTIONS, &url)
                .header("origin", origin)
                .header("access-control-request-method", method)
                .header(
                    "access-control-request-headers",
                    "authorization, content-type, idempotency-key, if-match",
                )
                .send()
        };
        let allowed = preflight(catalog_tests::PAGE_ORIGIN).await.unwrap();
        assert!(allowed.status().is_success(), "{url}: {}", allowed.status());
        let header = |name: &str| {
            allowed
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_ascii_lowercase()
        };
        assert_eq!(
            header("access-control-allow-origin"),
            catalog_tests::PAGE_ORIGIN
        );
        assert!(header("access-control-allow-methods").contains(&method.to_ascii_lowercase()));
        for asked in ["idempotency-key", "if-match"] {
            assert!(
                header("access-control-allow-headers").contains(asked),
                "{asked}"
            );
        }
        let other = preflight("https://evil.example").await.unwrap();
        assert!(
            other.headers().get("access-control-allow-origin").is_none(),
            "{url} allowed another origin"
        );
    }
    let read = http
        .get(pipeline.read("/v1/products/sku-1/photos"))
        .header("origin", catalog_tests::PAGE_ORIGIN)
        .send()
        .await
        .unwrap();
    let exposed = read
        .headers()
        .get("access-control-expose-headers")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    for header in ["etag", "retry-after", "location", "x-request-id"] {
        assert!(exposed.contains(header), "{header} not exposed: {exposed}");
    }
}
