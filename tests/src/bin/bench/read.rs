//! `bench read`: the read API next to the DynamoDB calls it makes: a photo, a gallery page,
//! and a listing page's 50 products, read in one call (`GET /v1/products?ids=`), in 50 single
//! calls side by side (as a page without the batch call would), and as one raw `BatchGetItem`
//! of their 50 primary photos (the least any read of them could cost).

use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use catalog_events::{PhotoState, PhotoStatus, UploadRequested};
use catalog_http::auth::AuthConfig;
use catalog_http::cors::CorsConfig;
use catalog_http::rate_limit::RateLimitConfig;
use catalog_projections::item::{self, Guard};
use catalog_read_model::{GALLERY_INDEX, GALLERY_KEY, PHOTO_ID};
use catalog_read_side::config::ReadApiConfig;
use catalog_runtime::settings::VariantsUrl;
use catalog_tests::pipeline::Stack;
use catalog_tests::upload_request;
use secrecy::SecretString;
use uuid::Uuid;

use crate::drive;

const PRODUCT: &str = "sku-bench";
const PHOTOS: usize = 200;
/// Products on a listing page, each with three ready photos.
const LISTED: usize = 50;

pub async fn run(count: usize, concurrency: usize) -> anyhow::Result<()> {
    println!(
        "read side: {count} requests of each kind at concurrency {concurrency}, {PHOTOS} ready photos"
    );
    let stack = Arc::new(Stack::create().await?);
    let mut ids = Vec::with_capacity(PHOTOS);
    for _ in 0..PHOTOS {
        let state = ready_photo(PRODUCT);
        item::put(
            &stack.dynamodb,
            &stack.resources.table.name,
            &state,
            Guard::Older,
        )
        .await
        .map_err(|error| anyhow::anyhow!(error))?;
        ids.push(state.photo_id);
    }
    let mut listed = Vec::with_capacity(LISTED);
    let mut primaries = Vec::with_capacity(LISTED);
    for product in 0..LISTED {
        let product = format!("{PRODUCT}-listed-{product}");
        for n in 0..3 {
            let state = ready_photo(&product);
            item::put(
                &stack.dynamodb,
                &stack.resources.table.name,
                &state,
                Guard::Older,
            )
            .await
            .map_err(|error| anyhow::anyhow!(error))?;
            // The gallery's first is the newest (none is placed).
            if n == 2 {
                primaries.push(state.photo_id);
            }
        }
        listed.push(product);
    }
    let ids = Arc::new(ids);
    let api = catalog_read_side::startup::build(
        ReadApiConfig {
            listen: "127.0.0.1:0".into(),
            auth: AuthConfig {
                jwt_secret: Some(SecretString::from("bench")),
                ..AuthConfig::default()
            },
            cors: CorsConfig::default(),
            timeouts: catalog_http::ops::Timeouts::default(),
            server: Default::default(),
            // The bench measures the service, not its limits.
            limits: RateLimitConfig {
                address_burst: u32::MAX,
                address_per_sec: u32::MAX,
                ..RateLimitConfig::default()
            },
            variants: VariantsUrl {
                variants_base_url: "https://cdn.example".into(),
            },
            consistency_wait_ms: 3000,
        },
        &stack.resources,
    )
    .await?;
    let base = Arc::new(format!("http://127.0.0.1:{}", api.port()));
    tokio::spawn(api.run_until_stopped());
    let http = reqwest::Client::new();

    let (h, b, i) = (http.clone(), Arc::clone(&base), Arc::clone(&ids));
    let service_get = drive(count, concurrency, move |n| {
        let (http, url) = (h.clone(), format!("{b}/v1/photos/{}", i[n % PHOTOS]));
        async move { ok(http.get(url).send().await?).await }
    })
    .await?;
    let (s, i) = (Arc::clone(&stack), Arc::clone(&ids));
    let raw_get = drive(count, concurrency, move |n| {
        let (stack, id) = (Arc::clone(&s), i[n % PHOTOS]);
        async move {
            stack
                .dynamodb
                .get_item()
                .table_name(&stack.resources.table.name)
                .key(PHOTO_ID, AttributeValue::S(id.to_string()))
                .send()
                .await?;
            Ok(())
        }
    })
    .await?;
    let (h, b) = (http.clone(), Arc::clone(&base));
    let service_gallery = drive(count, concurrency, move |_| {
        let (http, url) = (
            h.clone(),
            format!("{b}/v1/products/{PRODUCT}/photos?limit=20"),
        );
        async move { ok(http.get(url).send().await?).await }
    })
    .await?;
    let s = Arc::clone(&stack);
    let raw_gallery = drive(count, concurrency, move |_| {
        let stack = Arc::clone(&s);
        async move {
            stack
                .dynamodb
                .query()
                .table_name(&stack.resources.table.name)
                .index_name(GALLERY_INDEX)
                .key_condition_expression("#key = :value")
                .expression_attribute_names("#key", GALLERY_KEY)
                .expression_attribute_values(":value", AttributeValue::S(PRODUCT.into()))
                .scan_index_forward(false)
                .limit(20)
                .send()
                .await?;
            Ok(())
        }
    })
    .await?;
    let pages = (count / 10).max(20);
    let (h, b) = (http.clone(), Arc::clone(&base));
    let batch_url = Arc::new(format!("{b}/v1/products?ids={}", listed.join(",")));
    let batch = drive(pages, concurrency, move |_| {
        let (http, url) = (h.clone(), batch_url.to_string());
        async move { ok(http.get(url).send().await?).await }
    })
    .await?;
    let (h, b, l) = (http.clone(), Arc::clone(&base), Arc::new(listed));
    let singles = drive(pages, concurrency, move |_| {
        let calls: Vec<_> = l
            .iter()
            .map(|product| {
                let (http, url) = (h.clone(), format!("{b}/v1/products/{product}"));
                async move { ok(http.get(url).send().await?).await }
            })
            .collect();
        async move {
            futures_util::future::try_join_all(calls).await?;
            Ok(())
        }
    })
    .await?;
    let (s, p) = (Arc::clone(&stack), Arc::new(primaries));
    let raw_batch = drive(pages, concurrency, move |_| {
        let (stack, primaries) = (Arc::clone(&s), Arc::clone(&p));
        async move {
            let keys = primaries
                .iter()
                .map(|id| {
                    std::collections::HashMap::from([(
                        PHOTO_ID.to_owned(),
                        AttributeValue::S(id.to_string()),
                    )])
                })
                .collect();
            let mut request = Some(KeysAndAttributes::builder().set_keys(Some(keys)).build()?);
            while let Some(keys) = request.take() {
                let answer = stack
                    .dynamodb
                    .batch_get_item()
                    .request_items(&stack.resources.table.name, keys)
                    .send()
                    .await?;
                request = answer
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(&stack.resources.table.name));
            }
            Ok(())
        }
    })
    .await?;

    service_get.print("GET /v1/photos/{id}");
    raw_get.print("GetItem (reference)");
    println!(
        "ratio: {:.2} of the raw rate",
        service_get.per_second / raw_get.per_second
    );
    service_gallery.print("GET gallery, 20 a page");
    raw_gallery.print("Query gallery (reference)");
    println!(
        "ratio: {:.2} of the raw rate",
        service_gallery.per_second / raw_gallery.per_second
    );
    println!("a listing page of {LISTED} products, {pages} pages:");
    batch.print("GET /v1/products?ids= (one call)");
    singles.print("GET /v1/products/{id} x50 side by side");
    raw_batch.print("BatchGetItem of the 50 primary photos (reference)");
    println!(
        "ratio: the batch call is {:.2}x the pages/s of 50 single calls, {:.2} of the raw BatchGetItem's",
        batch.per_second / singles.per_second,
        batch.per_second / raw_batch.per_second
    );
    Ok(())
}

async fn ok(response: reqwest::Response) -> anyhow::Result<()> {
    anyhow::ensure!(
        response.status().is_success(),
        "answered {}",
        response.status()
    );
    response.bytes().await?;
    Ok(())
}

fn ready_photo(product: &str) -> PhotoState {
    let mut state = PhotoState::new(&UploadRequested {
        caption: Some("A product photo".into()),
        alt_text: None,
        tags: vec!["bench".into()],
        size_bytes: 2_000_000,
        ..upload_request(Uuid::now_v7(), "seller-bench", product)
    });
    state.status = PhotoStatus::Ready;
    state.width = Some(4000);
    state.height = Some(3000);
    state.version = 4;
    state
}
