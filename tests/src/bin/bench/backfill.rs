//! `bench backfill`: photos rendered before AVIF existed get it from `catalog backfill` on a
//! pipeline of their own (photos an hour), beside the same originals uploaded and rendered
//! anew, their AVIF included (the work a backfill saves is the variants' storing and the
//! photo's events; its decoding and resizing it does again).

use std::time::{Duration, Instant};

use catalog_image_processor::backfill::{BackfillConfig, Format, backfill};
use catalog_runtime::queue::Queue;
use catalog_tests::jpeg;
use catalog_tests::pipeline::Pipeline;

const SELLER: &str = "bench-seller";

pub async fn run(photos: usize) -> anyhow::Result<()> {
    let pipeline = Pipeline::start_unlimited().await?;
    let originals: Vec<Vec<u8>> = (0..photos)
        .map(|n| jpeg(1600 + 16 * (n as u32 % 8), 1200))
        .collect();
    for original in &originals {
        pipeline
            .legacy_photo(SELLER, "sku-old", original.clone(), chrono::Utc::now())
            .await?;
    }
    let images = Queue::open(
        &pipeline.stack.sdk,
        &pipeline.stack.resources,
        catalog_events::resources::QueueRole::Images,
    )
    .await?;
    let config = BackfillConfig {
        formats: vec![Format::Avif],
        placeholder: false,
        since: None,
        in_flight: 2,
        photo_deadline: Duration::from_secs(600),
    };
    let report = backfill(&pipeline.store, &images, &config).await?;
    println!("{report}");
    anyhow::ensure!(
        report.avif_made == photos as u64,
        "not every photo got its AVIF"
    );

    let started = Instant::now();
    let mut uploaded = Vec::with_capacity(photos);
    for original in originals {
        uploaded.push(
            pipeline
                .upload_file(SELLER, "sku-new", None, original)
                .await?,
        );
    }
    for photo in uploaded {
        pipeline.settled(photo).await?;
    }
    let fresh = photos as f64 * 3600.0 / started.elapsed().as_secs_f64();
    println!(
        "the same originals uploaded and rendered anew, AVIF included: {fresh:.0} photos an hour"
    );
    println!(
        "ratio: the backfill's pace is {:.2} of a fresh render's",
        report.per_hour() / fresh
    );
    Ok(())
}
