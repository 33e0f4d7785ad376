//! What the event store tells a seller about the past, over HTTP against the real Postgres:
//! the change feed read in pages, a photo as it was between two edits, and restoring its
//! details to an earlier version.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use catalog_tests::{WriteApi, eventually, expect_json, expect_problem};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SELLER: &str = "seller-a";
const OTHER: &str = "seller-b";

/// Declares a photo of `product` as `seller`; returns its id.
async fn declared(api: &WriteApi, seller: &str, product: &str) -> String {
    let body = json!({
        "product_id": product,
        "filename": "shoe.jpg",
        "content_type": "image/jpeg",
        "size_bytes": 1000,
        "caption": "first caption",
        "alt_text": "a shoe",
        "tags": ["red"],
    });
    let created = expect_json(
        api.create(seller, &body).await.unwrap(),
        StatusCode::CREATED,
    )
    .await
    .unwrap();
    created["photo_id"].as_str().unwrap().to_owned()
}

async fn patch(api: &WriteApi, photo: &str, body: Value) -> Value {
    let response = api
        .as_seller(Method::PATCH, &format!("/v1/photos/{photo}"), SELLER)
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_json(response, StatusCode::OK).await.unwrap()
}

async fn get(api: &WriteApi, path: &str, seller: &str) -> reqwest::Response {
    api.as_seller(Method::GET, path, seller)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_change_feed_read_in_pages_of_7_is_the_event_stores_order_and_resumes() {
    let api = WriteApi::spawn().await.unwrap();
    // 50 changes of the seller over 5 photos, interleaved, and some of another seller.
    let mut photos = Vec::new();
    for product in ["sku-a", "sku-b", "sku-a", "sku-b", "sku-a"] {
        photos.push(declared(&api, SELLER, product).await);
    }
    declared(&api, OTHER, "sku-other").await;
    for round in 0..9 {
        for photo in &photos {
            patch(&api, photo, json!({"caption": format!("caption {round}")})).await;
        }
    }
    let expected: Vec<(i64, String, i64, String)> = sqlx::query_as(
        "SELECT position, aggregate_id, sequence, event_type FROM events \
         WHERE aggregate_id = ANY($1) ORDER BY position",
    )
    .bind(&photos)
    .fetch_all(&api.pool)
    .await
    .unwrap();
    assert_eq!(expected.len(), 50);
    // The feed shows a change once every transaction that began before its commit is over (the
    // xid horizon is the whole server's): wait until it shows the last one.
    eventually(Duration::from_secs(30), || async {
        let page = get(&api, "/v1/sellers/me/changes?limit=100", SELLER).await;
        let page = expect_json(page, StatusCode::OK).await?;
        Ok((page["changes"].as_array().map(Vec::len) == Some(50)).then_some(()))
    })
    .await
    .expect("the feed shows all 50 changes");

    let mut read = Vec::new();
    let mut pages = 0;
    let mut after: Option<i64> = None;
    loop {
        let path = match after {
            None => "/v1/sellers/me/changes?limit=7".to_owned(),
            Some(after) => format!("/v1/sellers/me/changes?limit=7&after={after}"),
        };
        let page = expect_json(get(&api, &path, SELLER).await, StatusCode::OK)
            .await
            .unwrap();
        pages += 1;
        let changes = page["changes"].as_array().unwrap();
        assert!(!changes.is_empty(), "an empty page: {page}");
        read.extend(changes.iter().cloned());
        match page["next_after"].as_i64() {
            Some(next) => {
                assert_eq!(changes.len(), 7);
                assert_eq!(Some(next), changes.last().unwrap()["position"].as_i64());
                after = Some(next);
            }
            None => break,
        }
    }
    // 50 changes: 7 full pages and a last one of 1, which ends the feed exactly.
    assert_eq!(pages, 8);
    let got: Vec<(i64, String, i64, String)> = read
        .iter()
        .map(|change| {
            (
                change["position"].as_i64().unwrap(),
                change["photo_id"].as_str().unwrap().to_owned(),
                change["version"].as_i64().unwrap(),
                change["event_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    // Each change carries the photo as it was after it.
    for change in &read {
        let photo = &change["photo"];
        assert_eq!(photo["photo_id"], change["photo_id"]);
        assert_eq!(photo["version"], change["version"]);
        assert_eq!(photo["seller_id"], SELLER);
        assert!(change["occurred_at"].is_string());
    }
    let last_of_first_photo = read
        .iter()
        .rfind(|change| change["photo_id"] == photos[0].as_str())
        .unwrap();
    assert_eq!(last_of_first_photo["photo"]["caption"], "caption 8");
    let first = &read[0];
    assert_eq!(first["event_type"], "PhotoUploadRequested");
    assert_eq!(first["photo"]["caption"], "first caption");

    // Resuming after the last change reads nothing until the next one, then only it.
    let last = read.last().unwrap()["position"].as_i64().unwrap();
    let path = format!("/v1/sellers/me/changes?after={last}");
    let empty = expect_json(get(&api, &path, SELLER).await, StatusCode::OK)
        .await
        .unwrap();
    assert_eq!(empty, json!({"changes": [], "next_after": null}));
    patch(&api, &photos[2], json!({"tags": ["blue"]})).await;
    let next = expect_json(get(&api, &path, SELLER).await, StatusCode::OK)
        .await
        .unwrap();
    let next = next["changes"].as_array().unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0]["photo"]["tags"], json!(["blue"]));

    // Another seller sees only its own change, and cannot resume from this seller's cursor.
    let other = expect_json(
        get(&api, "/v1/sellers/me/changes", OTHER).await,
        StatusCode::OK,
    )
    .await
    .unwrap();
    assert_eq!(other["changes"].as_array().unwrap().len(), 1);
    let foreign = expect_problem(
        get(&api, &path, OTHER).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
    .unwrap();
    assert_eq!(foreign["errors"][0]["field"], "after");
    for bad in ["limit=0", "limit=1001", "after=x"] {
        let response = get(&api, &format!("/v1/sellers/me/changes?{bad}"), SELLER).await;
        assert!(
            response.status().is_client_error(),
            "{bad}: {}",
            response.status()
        );
    }
}

#[tokio::test]
async fn a_photo_as_of_a_moment_between_two_patches_shows_the_first_caption() {
    let api = WriteApi::spawn().await.unwrap();
    let photo = declared(&api, SELLER, "sku-a").await;
    let before_all = chrono::Utc::now() - chrono::Duration::seconds(60);
    patch(&api, &photo, json!({"caption": "first edit"})).await;
    let between = chrono::Utc::now();
    patch(&api, &photo, json!({"caption": "second edit", "tags": []})).await;

    let at = |moment: chrono::DateTime<chrono::Utc>| {
        let moment = moment.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        format!("/v1/photos/{photo}?as_of={}", urlencode(&moment))
    };
    let then = expect_json(get(&api, &at(between), SELLER).await, StatusCode::OK)
        .await
        .unwrap();
    assert_eq!(then["caption"], "first edit");
    assert_eq!(then["tags"], json!(["red"]));
    assert_eq!(then["version"], 2);
    let now = expect_json(
        get(&api, &format!("/v1/photos/{photo}"), SELLER).await,
        StatusCode::OK,
    )
    .await
    .unwrap();
    assert_eq!(now["caption"], "second edit");
    assert_eq!(now["version"], 3);

    // Before the photo existed: 404; another seller's photo: 404; a malformed moment: 400.
    expect_problem(
        get(&api, &at(before_all), SELLER).await,
        StatusCode::NOT_FOUND,
    )
    .await
    .unwrap();
    expect_problem(get(&api, &at(between), OTHER).await, StatusCode::NOT_FOUND)
        .await
        .unwrap();
    let malformed = format!("/v1/photos/{photo}?as_of=yesterday");
    expect_problem(get(&api, &malformed, SELLER).await, StatusCode::BAD_REQUEST)
        .await
        .unwrap();
}

#[tokio::test]
async fn restore_brings_back_the_details_of_a_version_as_new_events() {
    let api = WriteApi::spawn().await.unwrap();
    let photo = declared(&api, SELLER, "sku-a").await;
    patch(
        &api,
        &photo,
        json!({"caption": "overwritten", "alt_text": "", "tags": ["x", "y"]}),
    )
    .await;
    let restore = |seller: &str, body: Value| {
        api.as_seller(Method::POST, &format!("/v1/photos/{photo}/restore"), seller)
            .json(&body)
            .send()
    };
    let restored = expect_json(
        restore(SELLER, json!({"version": 1})).await.unwrap(),
        StatusCode::OK,
    )
    .await
    .unwrap();
    assert_eq!(restored["version"], 3);
    let now = expect_json(
        get(&api, &format!("/v1/photos/{photo}"), SELLER).await,
        StatusCode::OK,
    )
    .await
    .unwrap();
    assert_eq!(now["caption"], "first caption");
    assert_eq!(now["alt_text"], "a shoe");
    assert_eq!(now["tags"], json!(["red"]));
    let events = api.events().await.unwrap();
    assert_eq!(events.last().unwrap().2, "PhotoDetailsUpdated");
    assert_eq!(events.len(), 3);

    // Restoring what the photo already shows appends nothing.
    let again = expect_json(
        restore(SELLER, json!({"version": 1})).await.unwrap(),
        StatusCode::OK,
    )
    .await
    .unwrap();
    assert_eq!(again["version"], 3);
    assert_eq!(api.events().await.unwrap().len(), 3);

    // No such version: 422; another seller: 404; both change nothing.
    expect_problem(
        restore(SELLER, json!({"version": 9})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
    .unwrap();
    expect_problem(
        restore(OTHER, json!({"version": 1})).await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await
    .unwrap();
    expect_problem(
        restore(SELLER, json!({"version": 0, "extra": 1}))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
    .unwrap();
    assert_eq!(api.events().await.unwrap().len(), 3);
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}
