//! The restore, rehearsed: the event store dumped with `pg_dump` while photos are being
//! uploaded, processed and changed, restored with `pg_restore` into a fresh database, and the
//! read model rebuilt from it into an empty table (what `infra-cdk/README.md`'s point-in-time
//! restore runbook does after restoring Aurora). The rebuilt table and the restored store
//! agree (`catalog resync --dry-run` finds nothing to change), and the store holds every
//! event committed before the dump, its sealed fields still readable.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use catalog_event_store::aggregate::{PhotoCommand, PhotoServices};
use catalog_event_store::store::{self, PhotoStore};
use catalog_tests::pipeline::Pipeline;
use catalog_tests::{fresh_database, stack_env};
use tokio_util::sync::CancellationToken;

/// A PostgreSQL client program of the binaries `./dev` installed.
fn pg(program: &str) -> Command {
    Command::new(PathBuf::from(stack_env("CATALOG_PG_BIN").unwrap()).join(program))
}

async fn events(pool: &sqlx::PgPool) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT aggregate_id, sequence FROM events ORDER BY aggregate_id, sequence")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_store_restored_from_a_dump_taken_mid_run_rebuilds_a_read_model_that_agrees() {
    let pipeline = Pipeline::start().await.unwrap();
    let mut photos = Vec::new();
    for n in 0..4 {
        photos.push(
            pipeline
                .upload("seller-restore", &format!("sku-{n}"), None)
                .await
                .unwrap(),
        );
    }
    pipeline.ready(photos[0]).await.unwrap();

    // Mid-run: captions keep changing while the dump is taken.
    let stop = CancellationToken::new();
    let writer = {
        let (stop, store, photo) = (stop.clone(), pipeline.store.clone(), photos[0]);
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.is_cancelled() {
                n += 1;
                let command = PhotoCommand::UpdateDetails {
                    seller_id: "seller-restore".into(),
                    caption: Some(format!("caption {n}")),
                    alt_text: None,
                    tags: None,
                };
                store.execute(photo, command, "test").await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_dump = events(pipeline.store.pool()).await;
    let dump = std::env::temp_dir().join(format!("catalog-{}.dump", uuid::Uuid::new_v4()));
    let dumped = pg("pg_dump")
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&pipeline.write.database_url)
        .output()
        .unwrap();
    assert!(
        dumped.status.success(),
        "{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    stop.cancel();
    writer.await.unwrap();

    let restored_url = fresh_database().await.unwrap();
    let restored = pg("pg_restore")
        .args(["--no-owner", "--exit-on-error", "--dbname"])
        .arg(&restored_url)
        .arg(&dump)
        .output()
        .unwrap();
    std::fs::remove_file(&dump).unwrap();
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let pool = store::connect(&restored_url, 4).await.unwrap();

    // Everything committed before the dump began is there, and what came while it ran may be.
    let after_restore = events(&pool).await;
    assert!(
        before_dump
            .iter()
            .all(|event| after_restore.contains(event)),
        "an event committed before the dump is missing"
    );
    let restored_store = PhotoStore::new(pool.clone(), PhotoServices::default());
    let first = restored_store.load(photos[0]).await.unwrap().unwrap();
    assert!(
        first
            .caption
            .as_deref()
            .is_some_and(|caption| caption.starts_with("caption ")),
        "the sealed caption reads back: {:?}",
        first.caption
    );

    // The runbook's read model: an empty table of the current layout, rebuilt from the
    // restored store, which a dry resync then finds nothing to change in.
    let mut table = pipeline.stack.resources.table.clone();
    table.name = format!("{}-restored", table.name);
    catalog_local_stack::table(&pipeline.stack.sdk, &table)
        .await
        .unwrap();
    let rebuilt =
        catalog_projections::rebuild::rebuild(&pool, &pipeline.stack.dynamodb, &table.name, None)
            .await
            .unwrap();
    assert!(rebuilt.agrees(), "{rebuilt}");
    assert_eq!(rebuilt.fill.created, 4, "{rebuilt}");
    let resync =
        catalog_projections::resync::resync(&pool, &pipeline.stack.dynamodb, &table.name, true)
            .await
            .unwrap();
    assert_eq!((resync.scanned, resync.changed.len()), (4, 0), "{resync:?}");
}
