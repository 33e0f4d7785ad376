//! The image processor in the whole pipeline: photos uploaded through the API become ready
//! with four variants in S3, and files that are not safe images fail with the reason while the
//! worker goes on with the next.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use catalog_events::resources::QueueRole;
use catalog_events::{PhotoState, PhotoStatus, VariantName};
use catalog_images::hostile;
use catalog_tests::pipeline::Pipeline;
use catalog_tests::{eventually, expect_json, formats_are_lighter, jpeg, noise_jpeg, sha256_hex};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const SELLER: &str = "seller-a";

/// Declares a photo of `declared` bytes, PUTs `bytes` to its URL and calls upload-complete.
async fn upload(pipeline: &Pipeline, declared: &[u8], bytes: Vec<u8>) -> Uuid {
    let body = json!({
        "product_id": "sku-img",
        "filename": "photo.jpg",
        "content_type": "image/jpeg",
        "size_bytes": declared.len(),
        "checksum_sha256": sha256_hex(declared),
    });
    let created: Value = expect_json(
        pipeline.write.create(SELLER, &body).await.unwrap(),
        StatusCode::CREATED,
    )
    .await
    .unwrap();
    let mut put = pipeline
        .write
        .http
        .put(created["upload"]["url"].as_str().unwrap())
        .body(bytes);
    for (name, value) in created["upload"]["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    assert!(put.send().await.unwrap().status().is_success());
    let photo = created["photo_id"].as_str().unwrap();
    let complete = pipeline
        .write
        .as_seller(
            Method::POST,
            &format!("/v1/photos/{photo}/upload-complete"),
            SELLER,
        )
        .send()
        .await
        .unwrap();
    expect_json(complete, StatusCode::ACCEPTED).await.unwrap();
    photo.parse().unwrap()
}

/// Every part on a stack of its own, the image processor with `processor`.
async fn with_processor(processor: catalog_image_processor::ProcessorConfig) -> Pipeline {
    Pipeline::start_tuned(
        catalog_tests::pipeline::Stack::create().await.unwrap(),
        catalog_tests::pipeline::notifier_config(),
        processor,
        Default::default(),
    )
    .await
    .unwrap()
}

/// Waits until processing ended, ready or failed.
async fn processed(pipeline: &Pipeline, photo: Uuid) -> PhotoState {
    eventually(Duration::from_secs(60), || async {
        let state = pipeline.store.load(photo).await?.unwrap();
        Ok(matches!(state.status, PhotoStatus::Ready | PhotoStatus::Failed).then_some(state))
    })
    .await
    .unwrap()
}

/// The photo as the read API shows it once its AVIF variants, made after it was ready, are
/// there (all at once, in one event: the large variant's tells).
async fn with_avif(pipeline: &Pipeline, photo: Uuid) -> Value {
    eventually(Duration::from_secs(60), || async {
        let read = pipeline
            .write
            .http
            .get(pipeline.read(&format!("/v1/photos/{photo}")))
            .send()
            .await?;
        if read.status() == StatusCode::NOT_FOUND {
            return Ok(None); // not projected yet
        }
        let read = expect_json(read, StatusCode::OK).await?;
        let made = read["variants"]["large"]["formats"]["image/avif"].is_object();
        Ok(made.then_some(read))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_photo_becomes_ready_with_four_variants_that_match_s3() {
    let pipeline = Pipeline::start().await.unwrap();
    let bytes = jpeg(2400, 1600);
    let photo = upload(&pipeline, &bytes, bytes.clone()).await;
    let state = processed(&pipeline, photo).await;
    assert_eq!(
        state.status,
        PhotoStatus::Ready,
        "{:?}",
        state.failure_reason
    );
    assert_eq!((state.width, state.height), (Some(2400), Some(1600)));

    let read = pipeline
        .write
        .http
        .get(pipeline.read(&format!("/v1/photos/{photo}?min_version={}", state.version)))
        .send()
        .await
        .unwrap();
    let read = expect_json(read, StatusCode::OK).await.unwrap();
    assert_eq!(read["status"], "ready");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&pipeline.stack.sdk)
            .force_path_style(true)
            .build(),
    );
    let expected = [(150, 100), (320, 213), (800, 533), (1600, 1067)];
    for (name, (width, height)) in VariantName::ALL.into_iter().zip(expected) {
        let variant = &state.variants[&name];
        assert_eq!((variant.width, variant.height), (width, height), "{name}");
        assert_eq!(read["variants"][name.as_str()]["width"], width);
        let object = s3
            .get_object()
            .bucket(&pipeline.stack.resources.buckets.variants)
            .key(&variant.key)
            .send()
            .await
            .unwrap();
        assert_eq!(object.content_type(), Some("image/jpeg"));
        assert_eq!(
            object.cache_control(),
            Some("public, max-age=31536000, immutable")
        );
        let stored = object.body.collect().await.unwrap().into_bytes();
        assert_eq!(stored.len() as u64, variant.bytes, "{name}");
        let image = image::load_from_memory(&stored).unwrap();
        assert_eq!((image.width(), image.height()), (width, height), "{name}");
    }
}

/// Every variant URL the read API gives answers anyone with the image and its immutable cache
/// header, as the CDN does in AWS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_variant_url_serves_the_image_to_anyone() {
    let pipeline = Pipeline::start().await.unwrap();
    let bytes = jpeg(900, 600);
    let photo = upload(&pipeline, &bytes, bytes.clone()).await;
    let state = processed(&pipeline, photo).await;
    assert_eq!(state.status, PhotoStatus::Ready);
    let read = with_avif(&pipeline, photo).await;
    assert!(formats_are_lighter(&read), "{read:#}");
    let anonymous = reqwest::Client::new();
    for name in VariantName::ALL {
        let variant = &read["variants"][name.as_str()];
        let size = (
            variant["width"].as_u64().unwrap(),
            variant["height"].as_u64().unwrap(),
        );
        // The variant, and the same as WebP and (made after the photo was ready) AVIF, all
        // served alike.
        let files = [
            (variant, "image/jpeg"),
            (&variant["formats"]["image/webp"], "image/webp"),
            (&variant["formats"]["image/avif"], "image/avif"),
        ];
        for (file, content_type) in files {
            let served = anonymous
                .get(file["url"].as_str().unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(served.status(), StatusCode::OK, "{name} {content_type}");
            assert_eq!(
                served.headers()["cache-control"],
                "public, max-age=31536000, immutable"
            );
            assert_eq!(served.headers()["content-type"], content_type);
            let bytes = served.bytes().await.unwrap();
            assert_eq!(bytes.len() as u64, file["bytes"].as_u64().unwrap());
            let dimensions = if content_type == "image/avif" {
                let image = libavif::decode_rgb(&bytes).unwrap();
                (image.width(), image.height())
            } else {
                let image = image::load_from_memory(&bytes).unwrap();
                (image.width(), image.height())
            };
            assert_eq!(
                (u64::from(dimensions.0), u64::from(dimensions.1)),
                size,
                "{name} {content_type}"
            );
        }
    }
    assert!(
        read["placeholder"]["dominant_color"]
            .as_str()
            .is_some_and(|colour| colour.len() == 7 && colour.starts_with('#'))
    );
    assert!(read["placeholder"]["thumbhash"].as_str().is_some());
}

/// Noise is the photo whose WebP and AVIF would be heavier than its JPEG at the same look: no
/// variant lists a WebP, and the large one no AVIF.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variant_whose_alternate_would_be_heavier_lists_none() {
    let pipeline = Pipeline::start().await.unwrap();
    let bytes = noise_jpeg(1200, 800);
    let noise = upload(&pipeline, &bytes, bytes.clone()).await;
    assert_eq!(processed(&pipeline, noise).await.status, PhotoStatus::Ready);
    // The AVIF lane takes one photo at a time, in order: once a photo uploaded after the
    // noise has its AVIF, the noise's AVIF were made, and stored only where lighter.
    let bytes = jpeg(900, 600);
    let smooth = upload(&pipeline, &bytes, bytes.clone()).await;
    with_avif(&pipeline, smooth).await;
    let read = pipeline
        .write
        .http
        .get(pipeline.read(&format!("/v1/photos/{noise}")))
        .send()
        .await
        .unwrap();
    let read = expect_json(read, StatusCode::OK).await.unwrap();
    assert!(formats_are_lighter(&read), "{read:#}");
    assert_eq!(read["variants"]["large"]["formats"], json!({}));
    for name in VariantName::ALL {
        let formats = &read["variants"][name.as_str()]["formats"];
        assert!(formats["image/webp"].is_null(), "{name}: {formats}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heic_from_a_phone_becomes_a_ready_photo_with_jpeg_variants() {
    let pipeline = Pipeline::start().await.unwrap();
    let heic = include_bytes!("../../images/fixtures/two-colours.heic").to_vec();
    let photo = pipeline
        .upload_file(SELLER, "sku-heic", None, heic)
        .await
        .unwrap();
    let state = processed(&pipeline, photo).await;
    assert_eq!(
        state.status,
        PhotoStatus::Ready,
        "{:?}",
        state.failure_reason
    );
    assert_eq!(
        state.content_type, "image/heic",
        "the original's type, from its bytes"
    );
    assert_eq!((state.width, state.height), (Some(320), Some(200)));
    let read = with_avif(&pipeline, photo).await;
    let small = &read["variants"]["small"];
    assert_eq!(small["content_type"], "image/jpeg");
    let served = reqwest::get(small["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    let bytes = served.bytes().await.unwrap();
    let pixels = image::load_from_memory(&bytes).unwrap().to_rgb8();
    assert_eq!(pixels.dimensions(), (320, 200));
    let [red, blue] = [pixels.get_pixel(40, 100).0, pixels.get_pixel(280, 100).0];
    assert!(red[0] > 150 && red[2] < 80, "left half red: {red:?}");
    assert!(blue[2] > 150 && blue[0] < 80, "right half blue: {blue:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_are_not_safe_images_fail_with_the_reason_and_the_worker_goes_on() {
    let pipeline = Pipeline::start().await.unwrap();
    let html = b"<!doctype html><html><body>not a photo</body></html>".to_vec();
    let not_an_image = upload(&pipeline, &html, html.clone()).await;
    // Same size as declared, other bytes: only the checksum tells.
    let declared = jpeg(64, 64);
    let mut tampered = declared.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x55;
    let wrong_checksum = upload(&pipeline, &declared, tampered).await;
    let good = jpeg(300, 200);
    let fine = upload(&pipeline, &good, good.clone()).await;

    let failed = processed(&pipeline, not_an_image).await;
    assert_eq!(failed.status, PhotoStatus::Failed);
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("the file is not a JPEG, PNG, WebP, HEIC or GIF image")
    );
    assert!(failed.variants.is_empty());
    let failed = processed(&pipeline, wrong_checksum).await;
    assert_eq!(failed.status, PhotoStatus::Failed);
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("the uploaded file's SHA-256 differs from the declared checksum_sha256")
    );
    let ready = processed(&pipeline, fine).await;
    assert_eq!(ready.status, PhotoStatus::Ready);
    with_avif(&pipeline, fine).await;

    // Reprocessing makes new variants under new keys; the old ones stay valid meanwhile.
    let before = pipeline.store.load(fine).await.unwrap().unwrap().version;
    let reprocess = pipeline
        .write
        .as_seller(
            Method::POST,
            &format!("/v1/photos/{fine}/reprocess"),
            SELLER,
        )
        .send()
        .await
        .unwrap();
    let after = expect_json(reprocess, StatusCode::ACCEPTED).await.unwrap()["version"]
        .as_u64()
        .unwrap();
    assert_eq!(after, before + 1);
    let again = eventually(Duration::from_secs(60), || async {
        let state = pipeline.store.load(fine).await?.unwrap();
        Ok((state.status == PhotoStatus::Ready && state.version > after).then_some(state))
    })
    .await
    .unwrap();
    assert_eq!(again.processing_attempts, 2);
    assert_ne!(
        again.variants[&VariantName::Large].key,
        ready.variants[&VariantName::Large].key,
        "new keys, never overwritten"
    );
}

/// The original cannot be read (as when S3 fails): the message is retried, and after the
/// queue's receive limit the photo is failed and the message moves to the dead-letter queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_keeps_failing_ends_failed_and_its_message_dead_lettered() {
    let stack = catalog_tests::pipeline::Stack::create_with(|resources| {
        for queue in &mut resources.queues {
            queue.visibility_timeout_secs = 1;
            queue.max_receive_count = 2;
        }
    })
    .await
    .unwrap();
    let pipeline = Pipeline::start_on(stack).await.unwrap();
    let bytes = jpeg(32, 32);
    let body = json!({
        "product_id": "sku-img", "filename": "a.jpg", "content_type": "image/jpeg",
        "size_bytes": bytes.len(),
    });
    let created = expect_json(
        pipeline.write.create(SELLER, &body).await.unwrap(),
        StatusCode::CREATED,
    )
    .await
    .unwrap();
    let photo: Uuid = created["photo_id"].as_str().unwrap().parse().unwrap();
    // The upload is confirmed (as after a HEAD), but the object is not there to download.
    let confirm = catalog_event_store::aggregate::PhotoCommand::ConfirmUpload {
        seller_id: SELLER.into(),
        stored_size: bytes.len() as u64,
    };
    pipeline
        .store
        .execute(photo, confirm, "test")
        .await
        .unwrap();

    let failed = processed(&pipeline, photo).await;
    assert_eq!(failed.status, PhotoStatus::Failed);
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("the photo could not be processed; reprocess it to try again")
    );
    // The processor never deletes this message (every receive failed), so its leaving the
    // images queue is SQS moving it to the dead-letter queue. The processor consumes that
    // queue too (and deletes what it settles), so the test does not race it to read the
    // message there.
    eventually(Duration::from_secs(30), || async {
        let left = pipeline.stack.queued(QueueRole::Images).await? == 0;
        Ok(left.then_some(()))
    })
    .await
    .unwrap();
}

/// Hostile files fail with their reason, quickly, while other photos keep flowing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_files_fail_with_a_reason_while_other_photos_flow() {
    let pipeline = Pipeline::start().await.unwrap();
    // Smooth pictures, so that their scans are small.
    let smooth = |width: u32, height: u32| {
        image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
        })
    };
    let scans = hostile::jpeg_with_scans(&smooth(640, 480), 3000);
    let profile = hostile::png_with_profile(50 << 20);
    assert!(scans.len() < 20 << 20);
    let started = std::time::Instant::now();
    let scans = upload(&pipeline, &scans, scans.clone()).await;
    let profile = upload(&pipeline, &profile, profile.clone()).await;
    let fine_bytes = jpeg(800, 600);
    let fine = upload(&pipeline, &fine_bytes, fine_bytes.clone()).await;
    for (photo, reason) in [
        (scans, "the JPEG has more than 100 progressive scans"),
        (
            profile,
            "the image's colour profile is larger than the limit of 4194304 bytes",
        ),
    ] {
        let state = processed(&pipeline, photo).await;
        assert_eq!(state.status, PhotoStatus::Failed);
        assert_eq!(state.failure_reason.as_deref(), Some(reason));
    }
    assert_eq!(processed(&pipeline, fine).await.status, PhotoStatus::Ready);
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
}

/// A job that runs past its deadline fails its photo with the reason and frees its slot: with
/// one job at a time and a deadline shorter than any job, every photo still settles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_deadline_fails_the_photo_and_frees_the_slot() {
    let pipeline = with_processor(catalog_image_processor::ProcessorConfig {
        job_deadline: Duration::from_millis(1),
        jobs: Some(1),
        ..catalog_tests::pipeline::processor_config()
    })
    .await;
    let bytes = jpeg(1200, 800);
    let first = upload(&pipeline, &bytes, bytes.clone()).await;
    let second = upload(&pipeline, &bytes, bytes.clone()).await;
    for photo in [first, second] {
        let state = processed(&pipeline, photo).await;
        assert_eq!(state.status, PhotoStatus::Failed);
        assert_eq!(
            state.failure_reason.as_deref(),
            Some("processing the image took longer than the limit of 1ms")
        );
    }
}

/// The processor holds no more of an original than its cap, whatever the write side let
/// through: a file over it fails the photo with the reason, and nothing is rendered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_over_the_processors_cap_fails_the_photo() {
    let pipeline = with_processor(catalog_image_processor::ProcessorConfig {
        upload_limit: catalog_runtime::settings::UploadLimit {
            max_upload_bytes: 1_000,
        },
        ..catalog_tests::pipeline::processor_config()
    })
    .await;
    let bytes = jpeg(320, 240);
    assert!(bytes.len() > 1_000);
    let photo = upload(&pipeline, &bytes, bytes.clone()).await;
    let state = processed(&pipeline, photo).await;
    assert_eq!(state.status, PhotoStatus::Failed);
    assert_eq!(
        state.failure_reason.as_deref(),
        Some("the file is larger than the limit of 1000 bytes")
    );
    assert!(state.variants.is_empty());
}
