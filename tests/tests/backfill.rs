//! Backfill by replay, on the whole pipeline: ready photos rendered before AVIF, WebP or the
//! placeholder existed (their `PhotoProcessed` settled no format) get them from `catalog
//! backfill`, run again it finds nothing left; and the nightly resync hands a photo ready for
//! over an hour without its AVIF to the image processor, which makes it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use catalog_events::{AVIF, PhotoState, VariantName, WEBP};
use catalog_runtime::aws::S3Settings;
use catalog_tests::pipeline::{Pipeline, run_catalog};
use catalog_tests::{eventually, jpeg};
use chrono::{DateTime, Utc};
use uuid::Uuid;

const SELLER: &str = "seller-old";

async fn legacy_photo(pipeline: &Pipeline, ready_at: DateTime<Utc>) -> Uuid {
    pipeline
        .legacy_photo(SELLER, "sku-old", jpeg(320, 240), ready_at)
        .await
        .unwrap()
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
