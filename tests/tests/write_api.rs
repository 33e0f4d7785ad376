//! The write API over HTTP against the real Postgres and moto: the seller's upload flow,
//! every refusal of bad input (with the event store unchanged), idempotency, the multipart
//! upload and its caps, and racing commands.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::{Duration, SystemTime};

use catalog_tests::{WriteApi, expect_json, expect_problem, jpeg, sha256_hex};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SELLER: &str = "seller-a";
const OTHER: &str = "seller-b";

fn new_photo(bytes: &[u8]) -> Value {
    json!({
        "product_id": "sku-42",
        "filename": "shoe.jpg",
        "content_type": "image/jpeg",
        "size_bytes": bytes.len(),
        "checksum_sha256": sha256_hex(bytes),
        "caption": "A red shoe",
        "tags": ["red", "shoe"],
    })
}

async fn created_photo(api: &WriteApi, bytes: &[u8]) -> Value {
    expect_json(
        api.create(SELLER, &new_photo(bytes)).await.unwrap(),
        StatusCode::CREATED,
    )
    .await
    .unwrap()
}

fn path(photo: &Value, suffix: &str) -> String {
    format!("/v1/photos/{}{suffix}", photo["photo_id"].as_str().unwrap())
}

#[tokio::test]
async fn a_seller_uploads_a_jpeg_through_the_presigned_url_and_reads_its_history() {
    let api = WriteApi::spawn().await.unwrap();
    let bytes = jpeg(64, 48);
    let created = created_photo(&api, &bytes).await;
    assert_eq!(created["status"], "pending_upload");
    assert_eq!(created["version"], 1);
    let headers = created["upload"]["headers"].as_object().unwrap();
    for signed in [
        "content-type",
        "content-length",
        "x-amz-checksum-sha256",
        "x-amz-tagging",
        "if-none-match",
    ] {
        assert!(
            headers.contains_key(signed),
            "{signed} is not in {headers:?}"
        );
    }
    assert!(created["upload"]["expires_at"].is_string());

    let put = api.put_presigned(&created, bytes.clone()).await.unwrap();
    assert!(
        put.status().is_success(),
        "S3 refused the PUT: {}",
        put.text().await.unwrap()
    );
    // Until it is confirmed, the original carries the tag the lifecycle rule expires.
    let key = catalog_write_side::api::photos::original_key(
        created["photo_id"].as_str().unwrap().parse().unwrap(),
    );
    assert_eq!(
        api.original_tags(&key).await.unwrap(),
        [("catalog-upload".to_owned(), "pending".to_owned())]
    );

    let complete = api
        .as_seller(Method::POST, &path(&created, "/upload-complete"), SELLER)
        .send()
        .await
        .unwrap();
    let completed = expect_json(complete, StatusCode::ACCEPTED).await.unwrap();
    assert_eq!(completed["status"], "uploaded");
    assert_eq!(completed["version"], 2);
    assert!(api.original_tags(&key).await.unwrap().is_empty());
    // The URL cannot replace the confirmed original (S3 writes it only if absent).
    let again = api.put_presigned(&created, bytes.clone()).await.unwrap();
    assert_eq!(again.status(), StatusCode::PRECONDITION_FAILED);
    assert!(api.original_tags(&key).await.unwrap().is_empty());

    let history = api
        .as_seller(Method::GET, &path(&created, "/history"), SELLER)
        .send()
        .await
        .unwrap();
    let history = expect_json(history, StatusCode::OK).await.unwrap();
    let events = history["events"].as_array().unwrap();
    let types: Vec<_> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["PhotoUploadRequested", "PhotoUploaded"]);
    assert_eq!(events[0]["sequence"], 1);
    assert_eq!(events[0]["event_version"], "2.1");
    assert_eq!(events[0]["payload"]["tags"], json!(["red", "shoe"]));
    assert_eq!(events[1]["payload"]["size_bytes"], bytes.len());
    assert!(events[1]["occurred_at"].is_string());

    // A second upload-complete changes nothing.
    let again = api
        .as_seller(Method::POST, &path(&created, "/upload-complete"), SELLER)
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_json(again, StatusCode::ACCEPTED).await.unwrap()["version"],
        2
    );
    assert_eq!(api.events().await.unwrap().len(), 2);
}

#[tokio::test]
async fn another_seller_cannot_see_or_change_the_photo() {
    let api = WriteApi::spawn().await.unwrap();
    let created = created_photo(&api, &jpeg(16, 16)).await;
    let calls = [
        (Method::GET, "/history"),
        (Method::POST, "/upload-complete"),
        (Method::POST, "/reprocess"),
        (Method::DELETE, ""),
    ];
    for (method, suffix) in calls {
        let response = api
            .as_seller(method, &path(&created, suffix), OTHER)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::NOT_FOUND)
            .await
            .unwrap();
    }
    let patch = api
        .as_seller(Method::PATCH, &path(&created, ""), OTHER)
        .json(&json!({"caption": "mine now"}))
        .send()
        .await
        .unwrap();
    expect_problem(patch, StatusCode::NOT_FOUND).await.unwrap();
    let unknown = api
        .as_seller(Method::GET, "/v1/photos/not-a-uuid/history", SELLER)
        .send()
        .await
        .unwrap();
    expect_problem(unknown, StatusCode::NOT_FOUND)
        .await
        .unwrap();
    assert_eq!(api.events().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_upload_that_differs_from_the_declaration_is_refused() {
    let api = WriteApi::spawn().await.unwrap();
    let bytes = jpeg(32, 32);
    let created = created_photo(&api, &bytes).await;
    let complete = || {
        api.as_seller(Method::POST, &path(&created, "/upload-complete"), SELLER)
            .send()
    };

    let nothing_yet = expect_problem(complete().await.unwrap(), StatusCode::CONFLICT)
        .await
        .unwrap();
    assert!(
        nothing_yet["detail"]
            .as_str()
            .unwrap()
            .contains("nothing has been uploaded")
    );

    // Real S3 refuses this PUT (the length is signed); moto takes it, so upload-complete must.
    let mut other = bytes.clone();
    other.extend_from_slice(b"trailing bytes");
    let url = created["upload"]["url"].as_str().unwrap();
    let content_type = created["upload"]["headers"]["content-type"]
        .as_str()
        .unwrap();
    let put = api
        .http
        .put(url)
        .header("content-type", content_type)
        .body(other)
        .send()
        .await
        .unwrap();
    // Either S3 refused the PUT, or upload-complete refuses what it stored.
    let expected = if put.status().is_success() {
        "were declared"
    } else {
        "nothing has been uploaded"
    };
    let refused = expect_problem(complete().await.unwrap(), StatusCode::CONFLICT)
        .await
        .unwrap();
    let detail = refused["detail"].as_str().unwrap();
    assert!(detail.contains(expected), "{detail}");
    assert_eq!(
        api.events().await.unwrap().len(),
        1,
        "a refused upload appends nothing"
    );
}

/// Each bad request gets its problem+json status and leaves the event store as it was.
#[tokio::test]
async fn bad_input_is_refused_with_a_clear_problem_and_changes_nothing() {
    let api = WriteApi::spawn().await.unwrap();
    let good = new_photo(&jpeg(8, 8));
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let post = |body: String| {
        api.as_seller(Method::POST, "/v1/photos", SELLER)
            .header("content-type", "application/json")
            .body(body)
    };
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode)> = vec![
        (
            "malformed JSON",
            post(r#"{"product_id": "#.into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown field",
            post(with("colour", json!("red")).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "wrong type",
            post(with("size_bytes", json!("big")).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "missing field",
            post(json!({"product_id": "x"}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "oversize declared size",
            post(with("size_bytes", json!(26 * 1024 * 1024)).to_string()),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "unsupported content type",
            post(with("content_type", json!("image/svg+xml")).to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "bad checksum",
            post(with("checksum_sha256", json!("abc")).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bad callback URL",
            post(with("callback_url", json!("file:///etc/passwd")).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "body not JSON",
            api.as_seller(Method::POST, "/v1/photos", SELLER)
                .header("content-type", "text/plain")
                .body("hi"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "no token",
            api.http.post(api.url("/v1/photos")).json(&good),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "bad token",
            api.http
                .post(api.url("/v1/photos"))
                .bearer_auth("not.a.token")
                .json(&good),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "expired token",
            api.http
                .post(api.url("/v1/photos"))
                .bearer_auth(
                    api.token_expiring(SELLER, SystemTime::now() - Duration::from_secs(3600)),
                )
                .json(&good),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "empty patch",
            api.as_seller(
                Method::PATCH,
                "/v1/photos/0190f5a4-7b1e-7cc0-8000-000000000001",
                SELLER,
            )
            .json(&json!({})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (case, request, status) in cases {
        let response = request.send().await.unwrap();
        let problem = expect_problem(response, status)
            .await
            .unwrap_or_else(|error| panic!("{case}: {error}"));
        assert!(
            !problem["detail"].as_str().unwrap().is_empty(),
            "{case}: {problem}"
        );
    }
    assert!(
        api.events().await.unwrap().is_empty(),
        "bad input appended events"
    );
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let api = WriteApi::spawn().await.unwrap();
    let body = new_photo(&jpeg(8, 8));
    let send = |body: &Value| {
        api.as_seller(Method::POST, "/v1/photos", SELLER)
            .header("idempotency-key", "create-1")
            .json(body)
            .send()
    };
    let first = expect_json(send(&body).await.unwrap(), StatusCode::CREATED)
        .await
        .unwrap();
    let replay = expect_json(send(&body).await.unwrap(), StatusCode::CREATED)
        .await
        .unwrap();
    assert_eq!(replay, first, "a retry gets the first answer");

    let mut other = body.clone();
    other["caption"] = json!("another caption");
    let problem = expect_problem(
        send(&other).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
    .unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("idempotency-key-reused")
    );

    // The same key is another seller's own (for a product of its own).
    other["product_id"] = json!("sku-of-the-other-seller");
    let theirs = api
        .as_seller(Method::POST, "/v1/photos", OTHER)
        .header("idempotency-key", "create-1")
        .json(&other)
        .send()
        .await
        .unwrap();
    expect_json(theirs, StatusCode::CREATED).await.unwrap();
    assert_eq!(
        api.events().await.unwrap().len(),
        2,
        "one photo per seller, no more"
    );
}

#[tokio::test]
async fn an_idempotency_key_expires_after_a_day_and_is_purged() {
    let api = WriteApi::spawn().await.unwrap();
    let send = |body: &Value| {
        api.as_seller(Method::POST, "/v1/photos", SELLER)
            .header("idempotency-key", "create-2")
            .json(body)
            .send()
    };
    let body = new_photo(&jpeg(8, 8));
    let first = expect_json(send(&body).await.unwrap(), StatusCode::CREATED)
        .await
        .unwrap();
    let age = |hours: i32| {
        sqlx::query("UPDATE idempotency_keys SET created_at = now() - make_interval(hours => $1)")
            .bind(hours)
            .execute(&api.pool)
    };
    // Within the day, the key still answers as the first time.
    age(23).await.unwrap();
    let replay = expect_json(send(&body).await.unwrap(), StatusCode::CREATED)
        .await
        .unwrap();
    assert_eq!(replay, first);

    // Past it, the same key (even with another body) is a new request.
    age(25).await.unwrap();
    let mut other = body.clone();
    other["caption"] = json!("another caption");
    let second = expect_json(send(&other).await.unwrap(), StatusCode::CREATED)
        .await
        .unwrap();
    assert_ne!(second["photo_id"], first["photo_id"]);
    assert_eq!(api.events().await.unwrap().len(), 2);

    // The purge deletes what is past its retention, and only that.
    age(25).await.unwrap();
    sqlx::query(
        "INSERT INTO idempotency_keys (seller_id, key, request_hash) VALUES ('s', 'fresh', '')",
    )
    .execute(&api.pool)
    .await
    .unwrap();
    let purged = catalog_write_side::api::idempotency::purge(&api.pool)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let left: Vec<String> = sqlx::query_scalar("SELECT key FROM idempotency_keys")
        .fetch_all(&api.pool)
        .await
        .unwrap();
    assert_eq!(left, ["fresh"]);
}

#[tokio::test]
async fn a_photo_is_updated_deleted_and_then_refused() {
    let api = WriteApi::spawn().await.unwrap();
    let created = created_photo(&api, &jpeg(8, 8)).await;
    let patch = |body: Value| {
        api.as_seller(Method::PATCH, &path(&created, ""), SELLER)
            .json(&body)
            .send()
    };
    let updated = expect_json(
        patch(json!({"caption": "Blue", "tags": ["blue"]}))
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
    .unwrap();
    assert_eq!(updated["version"], 2);
    let unchanged = expect_json(
        patch(json!({"caption": "Blue"})).await.unwrap(),
        StatusCode::OK,
    )
    .await
    .unwrap();
    assert_eq!(
        unchanged["version"], 2,
        "an update that changes nothing appends nothing"
    );

    let reprocess = api
        .as_seller(Method::POST, &path(&created, "/reprocess"), SELLER)
        .send()
        .await
        .unwrap();
    let refused = expect_problem(reprocess, StatusCode::CONFLICT)
        .await
        .unwrap();
    assert_eq!(
        refused["detail"],
        "cannot reprocess a photo that is pending_upload"
    );

    let delete = || {
        api.as_seller(Method::DELETE, &path(&created, ""), SELLER)
            .send()
    };
    let deleted = expect_json(delete().await.unwrap(), StatusCode::ACCEPTED)
        .await
        .unwrap();
    assert_eq!(
        (deleted["status"].as_str(), deleted["version"].as_u64()),
        (Some("deleted"), Some(3))
    );
    let again = expect_json(delete().await.unwrap(), StatusCode::ACCEPTED)
        .await
        .unwrap();
    assert_eq!(again["version"], 3, "deleting twice appends nothing");

    let refused = expect_problem(
        patch(json!({"caption": "x"})).await.unwrap(),
        StatusCode::CONFLICT,
    )
    .await
    .unwrap();
    assert_eq!(refused["detail"], "cannot update a photo that is deleted");
    assert_eq!(api.events().await.unwrap().len(), 3);
}

fn form(bytes: Vec<u8>) -> reqwest::multipart::Form {
    let file = reqwest::multipart::Part::bytes(bytes).file_name("shoe.jpg");
    reqwest::multipart::Form::new()
        .text("product_id", "sku-7")
        .text("tags", "red")
        .text("tags", "sale")
        .part("file", file)
}

#[tokio::test]
async fn a_multipart_upload_creates_an_uploaded_photo() {
    let api = WriteApi::spawn().await.unwrap();
    let bytes = jpeg(40, 30);
    let response = api
        .as_seller(Method::POST, "/v1/photos/upload", SELLER)
        .multipart(form(bytes.clone()))
        .send()
        .await
        .unwrap();
    let created = expect_json(response, StatusCode::CREATED).await.unwrap();
    assert_eq!(created["status"], "uploaded");
    assert_eq!(created["version"], 2);
    let history = api
        .as_seller(Method::GET, &path(&created, "/history"), SELLER)
        .send()
        .await
        .unwrap();
    let history = expect_json(history, StatusCode::OK).await.unwrap();
    let requested = &history["events"][0]["payload"];
    assert_eq!(requested["checksum_sha256"], sha256_hex(&bytes));
    assert_eq!(requested["content_type"], "image/jpeg");
    assert_eq!(requested["filename"], "shoe.jpg");
    assert_eq!(requested["tags"], json!(["red", "sale"]));
}

#[tokio::test]
async fn multipart_uploads_over_the_cap_or_not_images_are_refused() {
    let cap = 4096;
    let api = WriteApi::spawn_with(|config| config.upload_limit.max_upload_bytes = cap)
        .await
        .unwrap();
    let upload = |bytes: Vec<u8>| {
        api.as_seller(Method::POST, "/v1/photos/upload", SELLER)
            .multipart(form(bytes))
            .send()
    };
    let mut streamed_over = jpeg(8, 8);
    streamed_over.resize(cap as usize + 1, 0);
    let mut declared_over = jpeg(8, 8);
    declared_over.resize(1024 * 1024, 0);
    let cases = [
        (
            "over the cap while streaming",
            streamed_over,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "Content-Length over the cap",
            declared_over,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "HTML",
            b"<!doctype html><html><body>hi</body></html>".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "SVG",
            br#"<svg xmlns="http://www.w3.org/2000/svg"/>"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("zero bytes", Vec::new(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ];
    for (case, bytes, status) in cases {
        let response = upload(bytes).await.unwrap();
        expect_problem(response, status)
            .await
            .unwrap_or_else(|error| panic!("{case}: {error}"));
    }
    let no_product = api
        .as_seller(Method::POST, "/v1/photos/upload", SELLER)
        .multipart(
            reqwest::multipart::Form::new()
                .part("file", reqwest::multipart::Part::bytes(jpeg(8, 8))),
        )
        .send()
        .await
        .unwrap();
    expect_problem(no_product, StatusCode::UNPROCESSABLE_ENTITY)
        .await
        .unwrap();
    assert!(api.events().await.unwrap().is_empty());
}

#[tokio::test]
async fn health_and_readiness_answer_and_metrics_are_not_served_on_the_api_port() {
    let api = WriteApi::spawn().await.unwrap();
    for path in ["/healthz", "/readyz"] {
        let response = api.http.get(api.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.headers().contains_key("x-request-id"));
    }
    // Metrics have a port of their own; spelled any way, the API's answers 404.
    for path in ["/metrics", "/%6Detrics"] {
        let response = api.http.get(api.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

/// Two tabs read the photo at one version; the first to save wins and the second is told,
/// with nothing of it written, instead of overwriting the first.
#[tokio::test]
async fn a_change_based_on_an_old_version_is_refused_with_412_and_changes_nothing() {
    let api = WriteApi::spawn().await.unwrap();
    let created = created_photo(&api, &jpeg(8, 8)).await;
    let patch = |seller: &'static str, if_match: &'static str, caption: &'static str| {
        api.as_seller(Method::PATCH, &path(&created, ""), seller)
            .header("If-Match", if_match)
            .json(&json!({ "caption": caption }))
            .send()
    };
    let first = patch(SELLER, "\"v1\"", "First tab").await.unwrap();
    assert_eq!(first.headers()["etag"], "\"v2\"");
    let first = expect_json(first, StatusCode::OK).await.unwrap();
    assert_eq!(first["version"], 2);

    let second = expect_problem(
        patch(SELLER, "\"v1\"", "Second tab").await.unwrap(),
        StatusCode::PRECONDITION_FAILED,
    )
    .await
    .unwrap();
    assert_eq!(
        second["type"],
        "urn:photo-catalog:problem:precondition-failed"
    );
    assert!(
        second["detail"].as_str().unwrap().contains("version 2"),
        "{second}"
    );
    // A weak tag, or one of another form, never matches.
    for stale in ["W/\"v2\"", "\"2\"", "v2"] {
        expect_problem(
            patch(SELLER, stale, "Second tab").await.unwrap(),
            StatusCode::PRECONDITION_FAILED,
        )
        .await
        .unwrap();
    }
    // Another seller learns nothing of the photo, not even that its version moved.
    expect_problem(
        patch(OTHER, "\"v1\"", "Theirs").await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await
    .unwrap();
    assert_eq!(
        api.events().await.unwrap().len(),
        2,
        "only the first tab's change"
    );

    // The current version, a list holding it, or `*` may change it.
    for current in ["\"v1\", \"v2\"", "*"] {
        expect_json(
            patch(SELLER, current, "Either tab").await.unwrap(),
            StatusCode::OK,
        )
        .await
        .unwrap();
    }
}
