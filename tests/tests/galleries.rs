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

/// Pages through the seller's inventory of `status`, `limit` at a time (see [`pages`]).
async fn inventory(
    pipeline: &Pipeline,
    seller: &str,
    status: PhotoStatus,
    limit: usize,
) -> Vec<String> {
    pages(pipeline, seller, &format!("status={status}"), limit).await
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

async fn order(pipeline: &Pipeline, seller: &str, product: &str) -> reqwest::Response {
    pipeline
        .write
        .http
        .get(
            pipeline
                .write
                .url(&format!("/v1/products/{product}/photo-order")),
        )
        .bearer_auth(pipeline.write.token(seller))
        .send()
        .await
        .unwrap()
}

/// The owner reads its product's order with a tag, and a reorder based on an order another tab
/// has changed since is refused with `412` and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorder_based_on_an_old_order_is_refused_with_412() {
    let pipeline = Pipeline::start().await.unwrap();
    let mut photos = Vec::new();
    for _ in 0..3 {
        photos.push(pipeline.upload("seller-a", "O", None).await.unwrap());
    }
    let [a, b, c] = photos[..] else {
        unreachable!()
    };
    let read = order(&pipeline, "seller-a", "O").await;
    assert_eq!(read.headers()["etag"], "\"v0\"");
    let read = expect_json(read, StatusCode::OK).await.unwrap();
    // Every photo that is not deleted, ready or not, newest first while none is placed.
    let newest_first: Vec<String> = [c, b, a].iter().map(Uuid::to_string).collect();
    assert_eq!(read["photo_ids"], json!(newest_first));
    assert_eq!(read["version"], 0);

    let put = |ids: Vec<Uuid>, if_match: &'static str| {
        pipeline
            .write
            .http
            .put(pipeline.write.url("/v1/products/O/photo-order"))
            .bearer_auth(pipeline.write.token("seller-a"))
            .header("If-Match", if_match)
            .json(&json!({ "photo_ids": ids }))
            .send()
    };
    let first = put(vec![a, b, c], "\"v0\"").await.unwrap();
    assert_eq!(first.headers()["etag"], "\"v1\"");
    expect_json(first, StatusCode::OK).await.unwrap();
    let problem = expect_problem(
        put(vec![b, a, c], "\"v0\"").await.unwrap(),
        StatusCode::PRECONDITION_FAILED,
    )
    .await
    .unwrap();
    assert_eq!(
        problem["type"],
        "urn:photo-catalog:problem:precondition-failed"
    );
    let after = expect_json(order(&pipeline, "seller-a", "O").await, StatusCode::OK)
        .await
        .unwrap();
    let first_order: Vec<String> = [a, b, c].iter().map(Uuid::to_string).collect();
    assert_eq!(
        (after["photo_ids"].clone(), after["version"].clone()),
        (json!(first_order), json!(1))
    );

    // Only the owner reads the order; a product no photo has is not found.
    let theirs = expect_problem(
        order(&pipeline, "seller-b", "O").await,
        StatusCode::CONFLICT,
    )
    .await
    .unwrap();
    assert!(theirs["type"].as_str().unwrap().ends_with("product-owned"));
    expect_problem(
        order(&pipeline, "seller-a", "none").await,
        StatusCode::NOT_FOUND,
    )
    .await
    .unwrap();
}

/// A photo of `seller`'s `product` with `tags`, `status`, created `minutes` after a fixed time.
fn tagged(
    seller: &str,
    product: &str,
    tags: &[&str],
    status: PhotoStatus,
    minutes: i64,
) -> PhotoState {
    let mut state = photo(seller, status, minutes);
    state.product_id = product.to_owned();
    state.tags = tags.iter().map(|tag| (*tag).to_owned()).collect();
    state
}

/// Pages through `GET /v1/sellers/me/photos?{query}`, `limit` at a time: every page but the
/// last full, the last without a cursor.
async fn pages(pipeline: &Pipeline, seller: &str, query: &str, limit: usize) -> Vec<String> {
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/sellers/me/photos?{query}&limit={limit}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = expect_json(get(pipeline, &path, Some(seller)).await, StatusCode::OK)
            .await
            .unwrap();
        let items = ids(&page);
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(
                    items.len(),
                    limit,
                    "{query}: a page with a next cursor is full"
                );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_filtered_by_tag_and_product_pages_full_and_ends_exactly() {
    let pipeline = Pipeline::start().await.unwrap();
    let mut photos = Vec::new();
    for n in 0..36 {
        let tags: &[&str] = match n % 4 {
            0 => &["red"],
            1 => &["blue", "red"],
            _ => &["green"],
        };
        let status = if n % 3 == 0 {
            PhotoStatus::Failed
        } else {
            PhotoStatus::Ready
        };
        photos.push(tagged("seller-t", &format!("t-{}", n % 3), tags, status, n));
    }
    // Another seller's red photos, of one of the seller's products (photos from before products
    // had owners) and of its own: never listed to the seller.
    for n in 0..6 {
        photos.push(tagged(
            "seller-u",
            "t-1",
            &["red"],
            PhotoStatus::Ready,
            100 + n,
        ));
        photos.push(tagged(
            "seller-u",
            "u-0",
            &["red"],
            PhotoStatus::Ready,
            200 + n,
        ));
    }
    // A deleted red photo of the seller's is in no listing.
    photos.push(tagged(
        "seller-t",
        "t-1",
        &["red"],
        PhotoStatus::Deleted,
        300,
    ));
    store(&pipeline, &photos).await;

    let expect = |keep: &dyn Fn(&PhotoState) -> bool| {
        let mut kept: Vec<&PhotoState> = photos
            .iter()
            .filter(|p| p.seller_id == "seller-t" && p.status != PhotoStatus::Deleted && keep(p))
            .collect();
        kept.sort_by_key(|p| std::cmp::Reverse((p.created_at, p.photo_id)));
        kept.iter()
            .map(|p| p.photo_id.to_string())
            .collect::<Vec<_>>()
    };
    let red = |p: &PhotoState| p.tags.iter().any(|tag| tag == "red");
    assert_eq!(
        pages(&pipeline, "seller-t", "tag=red", 4).await,
        expect(&red)
    );
    assert_eq!(expect(&red).len(), 18);
    assert_eq!(
        pages(&pipeline, "seller-t", "tag=%20blue%20", 5).await,
        expect(&|p| p.tags.iter().any(|tag| tag == "blue"))
    );
    assert_eq!(
        pages(&pipeline, "seller-t", "product_id=t-1", 3).await,
        expect(&|p| p.product_id == "t-1")
    );
    assert_eq!(
        pages(
            &pipeline,
            "seller-t",
            "product_id=t-1&tag=red&status=ready",
            2
        )
        .await,
        expect(&|p| p.product_id == "t-1" && red(p) && p.status == PhotoStatus::Ready)
    );
    assert_eq!(
        pages(&pipeline, "seller-t", "status=failed&tag=green", 3).await,
        expect(&|p| p.status == PhotoStatus::Failed && !red(p))
    );
    // A filter that matches nothing is one empty last page; another seller's product is empty.
    assert!(
        pages(&pipeline, "seller-t", "tag=purple", 5)
            .await
            .is_empty()
    );
    assert!(
        pages(&pipeline, "seller-t", "product_id=u-0", 5)
            .await
            .is_empty()
    );
    for bad in ["tag=", "product_id=", &format!("tag={}", "x".repeat(51))] {
        expect_problem(
            get(
                &pipeline,
                &format!("/v1/sellers/me/photos?{bad}"),
                Some("seller-t"),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
        .unwrap();
    }
    // The gallery takes no filter.
    expect_problem(
        get(&pipeline, "/v1/products/t-1/photos?tag=red", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
    .unwrap();
}

/// A listing page reads its products in one call, each as it would be read alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_products_are_read_in_one_call_as_each_is_read_alone() {
    let pipeline = Pipeline::start().await.unwrap();
    let mut photos = Vec::new();
    for product in 0..50 {
        for n in 0..(product % 3 + 1) {
            let status = if product % 10 == 9 {
                PhotoStatus::Failed
            } else {
                PhotoStatus::Ready
            };
            photos.push(tagged(
                "seller-l",
                &format!("l-{product}"),
                &[],
                status,
                product * 10 + n,
            ));
        }
    }
    store(&pipeline, &photos).await;
    let mut asked: Vec<String> = (0..50).map(|product| format!("l-{product}")).collect();
    asked.insert(10, "nothing-here".into());
    asked.push("l-0".into());
    let answer = get(
        &pipeline,
        &format!("/v1/products?ids={}", asked.join(",")),
        None,
    )
    .await;
    let cache = answer.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cache.starts_with("public"), "{cache}");
    let etag = answer.headers()["etag"].clone();
    let answer = expect_json(answer, StatusCode::OK).await.unwrap();
    assert_eq!(answer["not_found"], json!(["nothing-here"]));
    let items = answer["items"].as_array().unwrap();
    assert_eq!(items.len(), 50, "each product once, in the order asked");
    for (product, item) in items.iter().enumerate() {
        let alone = expect_json(
            get(&pipeline, &format!("/v1/products/l-{product}"), None).await,
            StatusCode::OK,
        )
        .await
        .unwrap();
        assert_eq!(item, &alone);
    }
    assert_eq!(
        items[9]["photo_count"], 0,
        "no ready photo: no primary photo"
    );
    assert_eq!(items[9]["primary_photo"], Value::Null);
    assert_eq!(items[2]["photo_count"], 3);

    let again = pipeline
        .write
        .http
        .get(pipeline.read(&format!("/v1/products?ids={}", asked.join(","))))
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let too_many: Vec<String> = (0..101).map(|n| format!("x{n}")).collect();
    expect_problem(
        get(
            &pipeline,
            &format!("/v1/products?ids={}", too_many.join(",")),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
    .unwrap();
    expect_problem(
        get(&pipeline, "/v1/products", None).await,
        StatusCode::BAD_REQUEST,
    )
    .await
    .unwrap();
}
