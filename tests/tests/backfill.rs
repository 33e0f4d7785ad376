//! Backfill by replay, on the whole pipeline: ready photos rendered before AVIF, WebP or the
//! placeholder existed (their `PhotoProcessed` settled no format) get them from `catalog
//! backfill`, run again it finds nothing left; and the nightly resync hands a photo ready for
//! over an hour without its AVIF to the image processor, which makes it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use catalog_events::{AVIF, PhotoEvent, PhotoState, Variant, VariantName, WEBP};
use catalog_runtime::aws::S3Settings;
use catalog_tests::pipeline::{Pipeline, run_catalog};
use catalog_tests::{eventually, jpeg, upload_request};
use chrono::{DateTime, Utc};
use uuid::Uuid;

const SELLER: &str = "seller-old";

/// A photo as a processor from before later formats and placeholders left it: ready, its
/// original in the bucket, its render settling no format. Its events are stored at once, as
/// they were then, so nothing renders it meanwhile.
async fn legacy_photo(pipeline: &Pipeline, ready_at: DateTime<Utc>) -> Uuid {
    let photo = Uuid::now_v7();
    let original = jpeg(320, 240);
    let s3 = S3Settings { path_style: true }.client(&pipeline.stack.sdk);
    s3.put_object()
        .bucket(&pipeline.stack.resources.buckets.originals)
        .key(format!("originals/{photo}"))
        .body(ByteStream::from(original.clone()))
        .send()
        .await
        .unwrap();
    let mut requested = upload_request(photo, SELLER, "sku-old");
    requested.occurred_at = ready_at;
    requested.size_bytes = original.len() as u64;
    let variants: BTreeMap<VariantName, Variant> = VariantName::ALL
        .into_iter()
        .map(|name| {
            let variant = Variant {
                key: format!("variants/{photo}/1-legacy/{name}.jpg"),
                width: 320.min(name.max_side()),
                height: 240.min(name.max_side() * 3 / 4),
                bytes: 10_000,
                content_type: "image/jpeg".into(),
                formats: BTreeMap::new(),
            };
            (name, variant)
        })
        .collect();
    let events = [
        PhotoEvent::PhotoUploadRequested(requested),
        PhotoEvent::PhotoUploaded {
            occurred_at: ready_at,
            size_bytes: original.len() as u64,
        },
        PhotoEvent::PhotoProcessingStarted {
            occurred_at: ready_at,
            attempt: 1,
        },
        PhotoEvent::PhotoProcessed {
            occurred_at: ready_at,
            width: 320,
            height: 240,
            variants,
            placeholder: None,
            formats_tried: Vec::new(),
        },
    ];
    let mut transaction = pipeline.write.pool.begin().await.unwrap();
    for (sequence, event) in (1..).zip(&events) {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata) VALUES ('Photo', $1, $2, $3, $4, $5, '{}')",
        )
        .bind(photo.to_string())
        .bind(sequence)
        .bind(event.event_type())
        .bind(event.event_version())
        .bind(serde_json::to_value(event).unwrap())
        .execute(&mut *transaction)
        .await
        .unwrap();
    }
    transaction.commit().await.unwrap();
    photo
}

async fn state(pipeline: &Pipeline, photo: Uuid) -> PhotoState {
    pipeline.store.load(photo).await.unwrap().unwrap()
}

/// Runs `catalog backfill ARGS` to its end; what it printed.
fn backfill(pipeline: &Pipeline, args: &[&str]) -> String {
    let mut all = vec!["backfill"];
    all.extend(args);
    let output = run_catalog(&pipeline.stack, &pipeline.write.database_url, &all).unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    let progress = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{printed}{progress}");
    printed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_makes_what_old_photos_lack_and_run_again_finds_nothing() {
    let pipeline = Pipeline::start().await.unwrap();
    let old = [
        legacy_photo(&pipeline, Utc::now()).await,
        legacy_photo(&pipeline, Utc::now()).await,
    ];
    // A photo of today's renders lacks nothing, and is left as it is.
    let today = pipeline
        .upload_file(SELLER, "sku-new", None, jpeg(320, 240))
        .await
        .unwrap();
    pipeline.settled(today).await.unwrap();
    let untouched = state(&pipeline, today).await;
    for photo in old {
        let before = state(&pipeline, photo).await;
        assert!(before.lacks(AVIF) && before.lacks(WEBP) && before.placeholder.is_none());
    }

    // Only the AVIF: made from a new pass over each original, beside the variants it shows.
    let printed = backfill(&pipeline, &["--formats", "avif"]);
    assert!(
        printed.contains("lacking WebP 0, AVIF 2, placeholder 0"),
        "{printed}"
    );
    assert!(printed.contains("AVIF made 2"), "{printed}");
    for photo in old {
        let after = state(&pipeline, photo).await;
        assert!(!after.lacks(AVIF), "{photo}");
        assert!(after.lacks(WEBP), "nothing else was made");
        let large = &after.variants[&VariantName::Large];
        let avif = &large.formats[AVIF];
        assert!(
            avif.key.starts_with(&format!("variants/{photo}/1-legacy/")),
            "{avif:?}"
        );
        let stored = S3Settings { path_style: true }
            .client(&pipeline.stack.sdk)
            .head_object()
            .bucket(&pipeline.stack.resources.buckets.variants)
            .key(&avif.key)
            .send()
            .await
            .unwrap();
        assert_eq!(stored.content_type(), Some(AVIF));
    }

    // The rest (WebP and placeholder): a new render of each, its variants replaced.
    let printed = backfill(&pipeline, &[]);
    assert!(
        printed.contains("lacking WebP 2, AVIF 0, placeholder 2"),
        "{printed}"
    );
    assert!(printed.contains("rendered again 2"), "{printed}");
    for photo in old {
        let after = state(&pipeline, photo).await;
        assert!(after.placeholder.is_some());
        assert!(!after.lacks(WEBP) && !after.lacks(AVIF));
        assert!(!after.variants[&VariantName::Large].key.contains("legacy"));
    }
    assert_eq!(state(&pipeline, today).await.version, untouched.version);

    // Killed or finished, a backfill run again starts from what photos still lack: nothing.
    let printed = backfill(&pipeline, &[]);
    assert!(
        printed.contains("lacking WebP 0, AVIF 0, placeholder 0"),
        "{printed}"
    );
    assert!(
        printed.contains("rendered again 0, AVIF made 0"),
        "{printed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resync_hands_a_photo_long_without_its_avif_to_the_image_processor() {
    let pipeline = Pipeline::start().await.unwrap();
    let stale = legacy_photo(&pipeline, Utc::now() - chrono::Duration::hours(2)).await;
    let fresh = legacy_photo(&pipeline, Utc::now()).await;
    let table = &pipeline.stack.resources.table.name;
    let resync = || {
        catalog_projections::resync::resync(
            pipeline.store.pool(),
            &pipeline.stack.dynamodb,
            table,
            false,
        )
    };
    let report = resync().await.unwrap();
    assert_eq!(
        (report.lacking_avif, report.avif_requested),
        (1, 1),
        "{report}"
    );
    eventually(Duration::from_secs(60), || async {
        Ok((!state(&pipeline, stale).await.lacks(AVIF)).then_some(()))
    })
    .await
    .unwrap();
    // The photo ready for minutes still has its AVIF coming from its own render's lane: left.
    assert!(state(&pipeline, fresh).await.lacks(AVIF));
    let again = resync().await.unwrap();
    assert_eq!(
        (again.lacking_avif, again.avif_requested),
        (0, 0),
        "{again}"
    );
}
