//! `bench project`, `bench resync` and `bench rebuild`: the projector, the resync and the
//! blue/green rebuild on a stack of their own.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use catalog_event_store::aggregate::{PhotoCommand, PhotoServices};
use catalog_event_store::store::{self, PhotoStore};
use catalog_events::UploadRequested;
use catalog_projections::projector::{Projector, ProjectorConfig};
use catalog_projections::rebuild::rebuild as run_rebuild;
use catalog_projections::resync::resync as run_resync;
use catalog_relay::Relay;
use catalog_tests::pipeline::{Stack, projector_config, relay_config};
use catalog_tests::{eventually, fresh_database, upload_request};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::drive;

/// Creates `count` uploaded photos (two events each) in a fresh event store.
async fn photos(count: usize) -> anyhow::Result<Arc<PhotoStore>> {
    let pool = store::connect(&fresh_database().await?, 32).await?;
    let store = Arc::new(PhotoStore::new(pool, PhotoServices::default()));
    let writer = Arc::clone(&store);
    drive(count, 32, move |n| {
        let store = Arc::clone(&writer);
        async move {
            let photo_id = Uuid::now_v7();
            let request = UploadRequested {
                caption: Some("A product photo".into()),
                alt_text: None,
                tags: vec!["bench".into()],
                size_bytes: 2_000_000,
                ..upload_request(
                    photo_id,
                    &format!("seller-{}", n % 50),
                    &format!("sku-{}", n % 500),
                )
            };
            let command = PhotoCommand::RecordUpload {
                request,
                stored_size: 2_000_000,
            };
            store.execute(photo_id, command, "bench").await?;
            Ok(())
        }
    })
    .await?;
    Ok(store)
}

/// Puts every event of `store` on the bus twice, as an at-least-once relay may send it.
async fn publish_twice(store: &PhotoStore, stack: &Stack) -> anyhow::Result<()> {
    let relay = Relay::new(
        store.pool().clone(),
        &stack.sdk,
        &stack.resources,
        relay_config(),
    );
    for _ in 0..2 {
        sqlx::query("UPDATE events SET published_at = NULL")
            .execute(store.pool())
            .await?;
        while relay.round().await?.claimed > 0 {}
    }
    Ok(())
}

pub async fn project(count: usize) -> anyhow::Result<()> {
    let store = photos(count).await?;
    let messages = (count * 2 * 2) as u64;
    println!(
        "projector: {count} photos, {} events, each delivered twice ({messages} messages)",
        count * 2
    );

    // The reference: the same queue drained by receive and delete alone, four at a time.
    let reference = Stack::create().await?;
    publish_twice(&store, &reference).await?;
    let sqs = aws_sdk_sqs::Client::new(&reference.sdk);
    let url = reference
        .queue_url(catalog_events::resources::QueueRole::Projector, false)
        .await?;
    let drained = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let drainers = (0..4).map(|_| {
        let (sqs, url, drained) = (sqs.clone(), url.clone(), Arc::clone(&drained));
        tokio::spawn(async move {
            while drained.load(Ordering::Relaxed) < messages {
                let received = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await?;
                let entries: Vec<_> = received
                    .messages
                    .unwrap_or_default()
                    .into_iter()
                    .enumerate()
                    .filter_map(|(n, message)| {
                        aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                            .id(n.to_string())
                            .set_receipt_handle(message.receipt_handle)
                            .build()
                            .ok()
                    })
                    .collect();
                if !entries.is_empty() {
                    drained.fetch_add(entries.len() as u64, Ordering::Relaxed);
                    sqs.delete_message_batch()
                        .queue_url(&url)
                        .set_entries(Some(entries))
                        .send()
                        .await?;
                }
            }
            anyhow::Ok(())
        })
    });
    for drainer in drainers.collect::<Vec<_>>() {
        drainer.await??;
    }
    let reference_rate = messages as f64 / started.elapsed().as_secs_f64();
    println!("{reference_rate:.0} messages/s: receive and delete alone (reference)");

    let stack = Stack::create().await?;
    publish_twice(&store, &stack).await?;
    let settings = ProjectorConfig {
        receivers: 4,
        ..projector_config()
    };
    let projector = Arc::new(Projector::new(&stack.sdk, &stack.resources, &settings).await?);
    let stop = CancellationToken::new();
    let started = Instant::now();
    let worker = tokio::spawn(Arc::clone(&projector).run(stop.clone()));
    let stats = &projector.stats;
    eventually(Duration::from_secs(600), || async {
        Ok((stats.events.load(Ordering::Relaxed) >= messages).then_some(()))
    })
    .await?;
    let elapsed = started.elapsed();
    stop.cancel();
    worker.await?;
    let writes = stats.writes.load(Ordering::Relaxed);
    let rate = messages as f64 / elapsed.as_secs_f64();
    println!(
        "{rate:.0} messages/s: the projector ({:.2} of the reference); DynamoDB writes {writes} \
         ({:.2} per message, {:.2} per distinct event); superseded {}, ruled out locally {}",
        rate / reference_rate,
        writes as f64 / messages as f64,
        writes as f64 / (count * 2) as f64,
        stats.superseded.load(Ordering::Relaxed),
        stats.ruled_out.load(Ordering::Relaxed),
    );
    Ok(())
}

pub async fn resync(count: usize) -> anyhow::Result<()> {
    let stack = Stack::create().await?;
    let store = photos(count).await?;
    let table = &stack.resources.table.name;
    let started = Instant::now();
    let filled = run_resync(store.pool(), &stack.dynamodb, table, false).await?;
    println!(
        "resync of {count} photos into an empty read model: {:.1} s, {filled}",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let report = run_resync(store.pool(), &stack.dynamodb, table, false).await?;
    println!(
        "resync of {count} photos with nothing drifted: {:.2} s, {report}: one call per {:.0} photos",
        started.elapsed().as_secs_f64(),
        count as f64 / report.dynamodb_calls.max(1) as f64
    );
    Ok(())
}

/// The blue/green rebuild of `count` photos into the current layout's table, beside a previous
/// table that holds them all (as a projector of the previous layout would).
pub async fn rebuild(count: usize) -> anyhow::Result<()> {
    let stack = Stack::create().await?;
    let previous = stack
        .resources
        .previous_table
        .clone()
        .ok_or_else(|| anyhow::anyhow!("resources.json names no previous table"))?;
    catalog_local_stack::table(&stack.sdk, &previous).await?;
    let store = photos(count).await?;
    run_resync(store.pool(), &stack.dynamodb, &previous.name, false).await?;
    let rebuilt = run_rebuild(
        store.pool(),
        &stack.dynamodb,
        &stack.resources.table.name,
        Some(&previous.name),
    )
    .await?;
    println!("rebuild of {count} photos beside the previous table:\n{rebuilt}");
    let started = Instant::now();
    let again = run_rebuild(
        store.pool(),
        &stack.dynamodb,
        &stack.resources.table.name,
        Some(&previous.name),
    )
    .await?;
    println!(
        "the same rebuild run again: {:.1} s, {} DynamoDB calls, {} written",
        started.elapsed().as_secs_f64(),
        again.dynamodb_calls,
        again.fill.created + again.fill.updated + again.fill.deleted
    );
    Ok(())
}
