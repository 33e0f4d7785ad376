//! Erasure on the whole pipeline: after a photo's `DELETE`, and after `catalog erase-seller`,
//! none of the personal strings a seller wrote (filename, caption, alt text, tags, callback
//! URL) can be found in any Postgres table, any object version in S3, the DynamoDB items or
//! the logs of the parts; and a resync and a rebuild from the event store still agree with the
//! read model.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use catalog_runtime::aws::S3Settings;
use catalog_tests::pipeline::{Pipeline, projected, run_catalog};
use catalog_tests::{eventually, expect_json, jpeg};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

const SELLER: &str = "seller-leaving";
const OTHER: &str = "seller-staying";

/// What the parts running in this test binary logged (at `info`, as they run).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&logs);
        tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_writer(move || Captured(Arc::clone(&writer)))
            .init();
        logs
    })
}

struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The personal strings of one photo, unique to it.
struct Personal {
    filename: String,
    caption: String,
    alt_text: String,
    tag: String,
    callback_url: String,
    /// The caption a PATCH gives it later.
    edited: String,
}

impl Personal {
    fn new() -> Self {
        let mark = Uuid::new_v4().simple().to_string();
        Self {
            filename: format!("anna-{mark}.jpg"),
            caption: format!("Anna's kitchen at 12 Elm Street {mark}"),
            alt_text: format!("Anna holding the kettle {mark}"),
            tag: format!("t{}", &mark[..20]),
            callback_url: format!("http://127.0.0.1:9/hooks/{mark}"),
            edited: format!("Moved to 3 Oak Lane {mark}"),
        }
    }

    fn strings(&self) -> [&str; 6] {
        [
            &self.filename,
            &self.caption,
            &self.alt_text,
            &self.tag,
            &self.callback_url,
            &self.edited,
        ]
    }
}

/// Uploads a photo with every personal field through the multipart API; returns its id.
async fn upload(pipeline: &Pipeline, seller: &str, product: &str, personal: &Personal) -> Uuid {
    let form = reqwest::multipart::Form::new()
        .text("product_id", product.to_owned())
        .text("caption", personal.caption.clone())
        .text("alt_text", personal.alt_text.clone())
        .text("tags", personal.tag.clone())
        .text("callback_url", personal.callback_url.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(jpeg(64, 48)).file_name(personal.filename.clone()),
        );
    let response = pipeline
        .write
        .as_seller(Method::POST, "/v1/photos/upload", seller)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let created = expect_json(response, StatusCode::CREATED).await.unwrap();
    created["photo_id"].as_str().unwrap().parse().unwrap()
}

/// A ready photo with every personal field, its caption edited once.
async fn ready_photo(pipeline: &Pipeline, seller: &str, product: &str) -> (Uuid, Personal) {
    let personal = Personal::new();
    let photo = upload(pipeline, seller, product, &personal).await;
    pipeline.ready(photo).await.unwrap();
    let patch = pipeline
        .write
        .as_seller(Method::PATCH, &format!("/v1/photos/{photo}"), seller)
        .json(&serde_json::json!({"caption": personal.edited}))
        .send()
        .await
        .unwrap();
    let version = expect_json(patch, StatusCode::OK).await.unwrap()["version"]
        .as_u64()
        .unwrap();
    projected(
        &pipeline.stack,
        &[(photo, version)],
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    (photo, personal)
}

/// Everything the local stack and the logs hold for this pipeline, as text to search.
async fn everything(pipeline: &Pipeline) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let pool = &pipeline.write.pool;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(tables.contains(&"events".to_owned()), "{tables:?}");
    for table in tables {
        let rows: String = sqlx::query_scalar(&format!(
            "SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM \"{table}\" t"
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        found.push((format!("Postgres table {table}"), rows.into_bytes()));
    }
    let s3 = S3Settings { path_style: true }.client(&pipeline.stack.sdk);
    let buckets = &pipeline.stack.resources.buckets;
    for bucket in [&buckets.originals, &buckets.variants] {
        let listed = s3
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        for version in listed.versions() {
            let key = version.key().unwrap();
            let object = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .set_version_id(version.version_id().map(str::to_owned))
                .send()
                .await
                .unwrap();
            let mut described = format!("{:?}", object.metadata()).into_bytes();
            described.extend(object.body.collect().await.unwrap().into_bytes());
            found.push((format!("S3 {bucket}/{key}"), described));
        }
    }
    let items = pipeline
        .stack
        .dynamodb
        .scan()
        .table_name(&pipeline.stack.resources.table.name)
        .send()
        .await
        .unwrap();
    found.push((
        "DynamoDB items".to_owned(),
        format!("{:?}", items.items()).into_bytes(),
    ));
    found.push(("the logs".to_owned(), logs().lock().unwrap().clone()));
    found
}

/// Where any of `strings` can still be found.
async fn found_anywhere(pipeline: &Pipeline, strings: &[&str]) -> Vec<String> {
    let mut places = Vec::new();
    for (place, bytes) in everything(pipeline).await {
        for string in strings {
            if bytes
                .windows(string.len())
                .any(|window| window == string.as_bytes())
            {
                places.push(format!("{string:?} in {place}"));
            }
        }
    }
    places
}

/// Waits until the photo's files are gone (its purge is done).
async fn purged(pipeline: &Pipeline, photo: Uuid) {
    let key = format!("originals/{photo}");
    eventually(Duration::from_secs(60), || async {
        Ok((pipeline.stack.original_versions(&key).await? == 0).then_some(()))
    })
    .await
    .unwrap();
}

/// The read model agrees with the event store: a resync would change nothing, and a rebuild
/// of the table writes nothing.
async fn resync_and_rebuild_agree(pipeline: &Pipeline) {
    let pool = pipeline.store.pool();
    let dynamodb = &pipeline.stack.dynamodb;
    let table = &pipeline.stack.resources.table.name;
    eventually(Duration::from_secs(30), || async {
        let report = catalog_projections::resync::resync(pool, dynamodb, table, true).await?;
        Ok(report.changed.is_empty().then_some(()))
    })
    .await
    .unwrap();
    let rebuilt = catalog_projections::rebuild::rebuild(pool, dynamodb, table, None)
        .await
        .unwrap();
    assert!(rebuilt.agrees(), "{rebuilt}");
    assert_eq!(
        rebuilt.fill.created + rebuilt.fill.updated + rebuilt.fill.deleted,
        0,
        "{rebuilt}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_delete_no_personal_string_of_the_photo_is_left_anywhere() {
    logs();
    let pipeline = Pipeline::start().await.unwrap();
    pipeline.write.webhook_secret(SELLER).await.unwrap();
    let (photo, personal) = ready_photo(&pipeline, SELLER, "sku-erase").await;
    // Before: the seller reads every field back, and nothing is stored in the clear.
    let shown = expect_json(
        pipeline
            .write
            .as_seller(Method::GET, &format!("/v1/photos/{photo}"), SELLER)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
    .unwrap();
    assert_eq!(shown["caption"], personal.edited.as_str());
    assert_eq!(shown["alt_text"], personal.alt_text.as_str());
    let before = found_anywhere(&pipeline, &personal.strings()).await;
    let in_postgres: Vec<&String> = before
        .iter()
        .filter(|place| place.contains("Postgres"))
        .collect();
    assert!(
        in_postgres.is_empty(),
        "stored in the clear: {in_postgres:?}"
    );
    // The scan finds what is there: the live photo's caption in the read model.
    let shown_caption = format!("{:?} in DynamoDB items", personal.edited);
    assert!(before.contains(&shown_caption), "{before:?}");

    let deleted = pipeline
        .write
        .as_seller(Method::DELETE, &format!("/v1/photos/{photo}"), SELLER)
        .send()
        .await
        .unwrap();
    expect_json(deleted, StatusCode::ACCEPTED).await.unwrap();
    purged(&pipeline, photo).await;
    resync_and_rebuild_agree(&pipeline).await;
    let left = found_anywhere(&pipeline, &personal.strings()).await;
    assert!(left.is_empty(), "not forgotten: {left:?}");

    // The events still fold: the history reads, the personal fields absent.
    let history = expect_json(
        pipeline
            .write
            .as_seller(Method::GET, &format!("/v1/photos/{photo}/history"), SELLER)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
    .unwrap();
    let first = &history["events"][0]["payload"];
    assert_eq!(first["type"], "PhotoUploadRequested");
    assert_eq!(first["filename"], "");
    assert_eq!(first.get("caption"), None, "{first}");
    assert_eq!(
        history["events"].as_array().unwrap().last().unwrap()["event_type"],
        "PhotoDeleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_seller_deletes_every_photo_and_forgets_secrets_and_answers() {
    logs();
    let pipeline = Pipeline::start().await.unwrap();
    pipeline.write.webhook_secret(SELLER).await.unwrap();
    pipeline.write.webhook_secret(OTHER).await.unwrap();
    let (ready, first) = ready_photo(&pipeline, SELLER, "sku-leaving").await;
    let (kept, staying) = ready_photo(&pipeline, OTHER, "sku-staying").await;
    // A photo only declared, under an idempotency key.
    let pending = Personal::new();
    let declared = pipeline
        .write
        .as_seller(Method::POST, "/v1/photos", SELLER)
        .header("Idempotency-Key", "erase-me")
        .json(&serde_json::json!({
            "product_id": "sku-leaving",
            "filename": pending.filename,
            "content_type": "image/jpeg",
            "size_bytes": 100,
            "caption": pending.caption,
            "alt_text": pending.alt_text,
            "tags": [pending.tag],
        }))
        .send()
        .await
        .unwrap();
    let declared: Uuid = expect_json(declared, StatusCode::CREATED).await.unwrap()["photo_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let output = run_catalog(
        &pipeline.stack,
        &pipeline.write.database_url,
        &["erase-seller", SELLER],
    )
    .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(printed.contains("2 photo(s), 2 deleted now"), "{printed}");
    purged(&pipeline, ready).await;
    resync_and_rebuild_agree(&pipeline).await;
    let mut strings = first.strings().to_vec();
    strings.extend(pending.strings().into_iter().take(4));
    let left = found_anywhere(&pipeline, &strings).await;
    assert!(left.is_empty(), "not forgotten: {left:?}");
    let pool = &pipeline.write.pool;
    for table in ["webhook_secrets", "idempotency_keys", "photo_keys"] {
        let rows: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE seller_id = $1"
        ))
        .bind(SELLER)
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(rows, 0, "{table}");
    }
    for photo in [ready, declared] {
        let state = pipeline.store.load(photo).await.unwrap().unwrap();
        assert_eq!(state.status, catalog_events::PhotoStatus::Deleted);
    }
    // Another seller's photo keeps everything.
    let state = pipeline.store.load(kept).await.unwrap().unwrap();
    assert_eq!(state.caption.as_deref(), Some(staying.edited.as_str()));
    assert_eq!(state.filename, staying.filename);
    let read: Value = expect_json(
        pipeline
            .write
            .http
            .get(pipeline.read(&format!("/v1/photos/{kept}")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
    .unwrap();
    assert_eq!(read["alt_text"], staying.alt_text.as_str());

    // Run again, it finds nothing left to do.
    let again = run_catalog(
        &pipeline.stack,
        &pipeline.write.database_url,
        &["erase-seller", SELLER],
    )
    .unwrap();
    let printed = String::from_utf8_lossy(&again.stdout);
    assert!(
        printed.contains("2 photo(s), 0 deleted now; 0 data key(s)"),
        "{printed}"
    );
}
