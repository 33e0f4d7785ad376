//! The pipeline under trouble: messages in any order and repeated, processes killed in the
//! middle of a batch, and a read model damaged behind the service's back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use catalog_event_store::aggregate::{PhotoCommand, PhotoServices};
use catalog_event_store::store::{self, PhotoStore};
use catalog_events::{EventEnvelope, PhotoState, UploadRequested};
use catalog_projections::projector::Projector;
use catalog_projections::resync::{Report, resync};
use catalog_read_model::{PHOTO_ID, STATE};
use catalog_tests::pipeline::{Process, Stack, projected, projector_config, run_catalog};
use catalog_tests::{eventually, fresh_database};
use chrono::Utc;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use uuid::Uuid;

fn request(photo_id: Uuid, product: &str) -> UploadRequested {
    catalog_tests::upload_request(photo_id, "seller-1", product)
}

fn update(caption: &str) -> PhotoCommand {
    PhotoCommand::UpdateDetails {
        seller_id: "seller-1".into(),
        caption: Some(caption.into()),
        alt_text: None,
        tags: None,
    }
}

async fn event_store() -> (String, PhotoStore) {
    let url = fresh_database().await.unwrap();
    let pool = store::connect(&url, 8).await.unwrap();
    (url, PhotoStore::new(pool, PhotoServices::default()))
}

/// Creates a photo with three events (request, upload, caption); returns its id.
async fn photo_with_three_events(store: &PhotoStore, product: &str) -> Uuid {
    let photo = Uuid::now_v7();
    let record = PhotoCommand::RecordUpload {
        request: request(photo, product),
        stored_size: 100,
    };
    store.execute(photo, record, "test").await.unwrap();
    store
        .execute(photo, update("first caption"), "test")
        .await
        .unwrap();
    photo
}

/// One photo's whole life as envelopes, in order.
fn life(photo: Uuid) -> Vec<EventEnvelope> {
    let at = Utc::now();
    let events = vec![
        catalog_events::PhotoEvent::PhotoUploadRequested(request(photo, "sku-p")),
        catalog_events::PhotoEvent::PhotoUploaded {
            occurred_at: at,
            size_bytes: 100,
        },
        catalog_events::PhotoEvent::PhotoProcessingStarted {
            occurred_at: at,
            attempt: 1,
        },
        catalog_events::PhotoEvent::PhotoProcessed {
            occurred_at: at,
            width: 10,
            height: 10,
            variants: Default::default(),
            placeholder: None,
            formats_tried: Vec::new(),
        },
        catalog_events::PhotoEvent::PhotoDetailsUpdated {
            occurred_at: at,
            caption: Some("late".into()),
            alt_text: None,
            tags: None,
        },
        catalog_events::PhotoEvent::PhotoDeleted { occurred_at: at },
    ];
    let mut state = None;
    events
        .into_iter()
        .enumerate()
        .map(|(index, event)| {
            PhotoState::apply(&mut state, &event);
            EventEnvelope::new(
                photo,
                index as u64 + 1,
                event,
                None,
                None,
                state.clone().unwrap(),
            )
        })
        .collect()
}

/// Any order and any repetition of one photo's envelopes, in batches of any size, leave the
/// item the ordered stream leaves.
#[test]
fn any_order_and_duplication_of_envelopes_gives_the_ordered_item() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stack = runtime.block_on(Stack::create()).unwrap();
    let inputs = (
        Just((0..6usize).collect::<Vec<_>>()).prop_shuffle(),
        proptest::collection::vec(0..6usize, 0..6),
        1..4usize,
    );
    let mut runner = TestRunner::new(Config {
        cases: 12,
        ..Config::default()
    });
    runner
        .run(&inputs, |(order, repeats, batch)| {
            runtime.block_on(async {
                let photo = Uuid::now_v7();
                let envelopes = life(photo);
                let deliveries: Vec<usize> = order.iter().chain(&repeats).copied().collect();
                let projector = Projector::new(&stack.sdk, &stack.resources, &projector_config())
                    .await
                    .unwrap();
                for chunk in deliveries.chunks(batch) {
                    projector
                        .project(chunk.iter().map(|index| &envelopes[*index]))
                        .await;
                }
                let stored = stack.item(photo).await.unwrap().unwrap();
                let expected = catalog_read_model::encode(&envelopes[5].state).unwrap();
                prop_assert_eq!(stored, expected);
                Ok(())
            })
        })
        .unwrap();
}

/// SIGKILL the relay, then the projector, each in the middle of its work; started again,
/// every event still reaches the read model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_relay_and_the_projector_mid_batch_loses_nothing() {
    // Messages a killed projector held come back after the visibility timeout: keep it short.
    let stack = Stack::create_with(|resources| {
        for queue in &mut resources.queues {
            queue.visibility_timeout_secs = 5;
        }
    })
    .await
    .unwrap();
    let (url, store) = event_store().await;
    let mut photos = Vec::new();
    for n in 0..40 {
        photos.push((
            photo_with_three_events(&store, &format!("sku-{}", n % 4)).await,
            3u64,
        ));
    }
    let published = || async {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM events WHERE published_at IS NOT NULL")
                .fetch_one(store.pool())
                .await?;
        anyhow::Ok(count)
    };

    let relay = Process::start(&stack, &url, &["relay"]).unwrap();
    eventually(Duration::from_secs(60), || async {
        Ok((published().await? >= 30).then_some(()))
    })
    .await
    .unwrap();
    relay.kill().unwrap();
    assert!(
        published().await.unwrap() < 120,
        "the relay was killed before it finished"
    );

    let projector = Process::start(&stack, &url, &["project"]).unwrap();
    eventually(Duration::from_secs(60), || async {
        Ok((stack.versions().await?.len() >= 5).then_some(()))
    })
    .await
    .unwrap();
    projector.kill().unwrap();

    let _relay = Process::start(&stack, &url, &["relay"]).unwrap();
    let _projector = Process::start(&stack, &url, &["project"]).unwrap();
    projected(&stack, &photos, Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(published().await.unwrap(), 120);
    let versions = stack.versions().await.unwrap();
    assert_eq!(versions.len(), 40);
    assert!(versions.iter().all(|(_, version)| *version == 3));
}

/// Deletes one item, corrupts another, adds an orphan: the resync reports and repairs exactly
/// those three, and a dry run reports them and changes nothing.
#[tokio::test]
async fn resync_repairs_exactly_what_drifted() {
    let stack = Stack::create().await.unwrap();
    let (_, store) = event_store().await;
    let mut photos = Vec::new();
    for n in 0..6 {
        photos.push(photo_with_three_events(&store, &format!("sku-{n}")).await);
    }
    store
        .execute(
            photos[5],
            PhotoCommand::Delete {
                seller_id: "seller-1".into(),
            },
            "test",
        )
        .await
        .unwrap();
    let table = stack.resources.table.name.clone();
    let first = resync(store.pool(), &stack.dynamodb, &table, false)
        .await
        .unwrap();
    assert_eq!((first.scanned, first.created, first.unchanged), (6, 6, 0));
    let healthy: HashMap<Uuid, catalog_read_model::Item> = {
        let mut items = HashMap::new();
        for photo in &photos {
            items.insert(*photo, stack.item(*photo).await.unwrap().unwrap());
        }
        items
    };

    let key = |photo: Uuid| AttributeValue::S(photo.to_string());
    stack
        .dynamodb
        .delete_item()
        .table_name(&table)
        .key(PHOTO_ID, key(photos[0]))
        .send()
        .await
        .unwrap();
    stack
        .dynamodb
        .update_item()
        .table_name(&table)
        .key(PHOTO_ID, key(photos[1]))
        .update_expression("SET #state.caption = :vandal")
        .expression_attribute_names("#state", STATE)
        .expression_attribute_values(":vandal", AttributeValue::S("vandalised".into()))
        .send()
        .await
        .unwrap();
    let mut orphan = healthy[&photos[2]].clone();
    orphan.insert(PHOTO_ID.into(), key(Uuid::now_v7()));
    stack
        .dynamodb
        .put_item()
        .table_name(&table)
        .set_item(Some(orphan))
        .send()
        .await
        .unwrap();

    let expected = Report {
        scanned: 6,
        created: 1,
        updated: 1,
        deleted: 1,
        unchanged: 4,
        ..Report::default()
    };
    let without_calls = |report: Report| Report {
        dynamodb_calls: 0,
        changed: Vec::new(),
        ..report
    };
    let dry = resync(store.pool(), &stack.dynamodb, &table, true)
        .await
        .unwrap();
    assert_eq!(dry.changed.len(), 3, "each photo it would change named");
    assert_eq!(without_calls(dry), expected);
    assert!(
        stack.item(photos[0]).await.unwrap().is_none(),
        "a dry run changes nothing"
    );

    let repaired = resync(store.pool(), &stack.dynamodb, &table, false)
        .await
        .unwrap();
    assert_eq!(without_calls(repaired), expected);
    for photo in &photos {
        assert_eq!(
            stack.item(*photo).await.unwrap().as_ref(),
            Some(&healthy[photo]),
            "{photo}"
        );
    }
    assert_eq!(
        stack.versions().await.unwrap().len(),
        6,
        "the orphan is gone"
    );

    let again = resync(store.pool(), &stack.dynamodb, &table, false)
        .await
        .unwrap();
    assert_eq!(
        without_calls(again.clone()),
        Report {
            scanned: 6,
            unchanged: 6,
            ..Report::default()
        }
    );
    assert_eq!(
        again.dynamodb_calls, 2,
        "one BatchGetItem and one Scan page, no writes"
    );
}

/// A photo whose events cannot be read is reported and skipped; every other photo is repaired,
/// and the command says so with its exit status.
#[tokio::test]
async fn resync_skips_a_photo_it_cannot_repair_and_exits_non_zero() {
    let stack = Stack::create().await.unwrap();
    let (url, store) = event_store().await;
    let photos = [
        photo_with_three_events(&store, "sku-a").await,
        photo_with_three_events(&store, "sku-b").await,
        photo_with_three_events(&store, "sku-c").await,
    ];
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, metadata) VALUES ('Photo', $1, 4, 'PhotoDetailsUpdated', '1', '{\"no\": 1}', '{}')",
    )
    .bind(photos[1].to_string())
    .execute(store.pool())
    .await
    .unwrap();
    let table = stack.resources.table.name.clone();
    let report = resync(store.pool(), &stack.dynamodb, &table, false)
        .await
        .unwrap();
    assert_eq!(
        (report.scanned, report.created, report.skipped),
        (2, 2, 1),
        "{report}"
    );
    assert!(stack.item(photos[0]).await.unwrap().is_some());
    assert!(stack.item(photos[1]).await.unwrap().is_none());
    assert!(stack.item(photos[2]).await.unwrap().is_some());

    let output = run_catalog(&stack, &url, &["resync", "--dry-run"]).unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("skipped 1"), "{stdout}");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains(&photos[1].to_string()), "{log}");
}

/// The blue/green rebuild: the new layout's table is built from the event store beside the
/// previous table and agrees with it; a photo the previous table lost is reported (and the
/// command exits non-zero); run again, it writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_builds_the_new_table_beside_the_previous_and_reports_any_difference() {
    let stack = Stack::create().await.unwrap();
    let previous = stack.resources.previous_table.clone().unwrap();
    catalog_local_stack::table(&stack.sdk, &previous)
        .await
        .unwrap();
    let (url, store) = event_store().await;
    let mut photos = Vec::new();
    for n in 0..4 {
        photos.push(photo_with_three_events(&store, &format!("sku-{n}")).await);
    }
    resync(store.pool(), &stack.dynamodb, &previous.name, false)
        .await
        .unwrap();
    let rebuild = || {
        catalog_projections::rebuild::rebuild(
            store.pool(),
            &stack.dynamodb,
            &stack.resources.table.name,
            Some(&previous.name),
        )
    };
    let rebuilt = rebuild().await.unwrap();
    assert!(rebuilt.agrees(), "{rebuilt}");
    assert_eq!(rebuilt.fill.created, 4);
    assert_eq!(rebuilt.comparison.as_ref().unwrap().same, 4);

    let again = rebuild().await.unwrap();
    assert!(again.agrees(), "{again}");
    assert_eq!(
        again.fill.created + again.fill.updated + again.fill.deleted,
        0
    );

    // A photo that keeps changing while the rebuild runs (nothing feeds the previous table here)
    // is movement, not disagreement.
    let stop = tokio_util::sync::CancellationToken::new();
    let changing = {
        let (stop, store) = (
            stop.clone(),
            PhotoStore::new(store.pool().clone(), PhotoServices::default()),
        );
        let photo = photos[0];
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.is_cancelled() {
                n += 1;
                store
                    .execute(photo, update(&format!("caption {n}")), "test")
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };
    let moving = rebuild().await.unwrap();
    stop.cancel();
    changing.await.unwrap();
    assert!(moving.agrees(), "{moving}");
    assert_eq!(moving.moving, [photos[0].to_string()], "{moving}");
    resync(store.pool(), &stack.dynamodb, &previous.name, false)
        .await
        .unwrap();

    // The previous table lost a photo: the tables disagree, and the command says so.
    stack
        .dynamodb
        .delete_item()
        .table_name(&previous.name)
        .key(PHOTO_ID, AttributeValue::S(photos[2].to_string()))
        .send()
        .await
        .unwrap();
    let differing = rebuild().await.unwrap();
    assert!(!differing.agrees());
    assert_eq!(
        differing.comparison.as_ref().unwrap().only_new,
        [photos[2].to_string()]
    );
    let output = run_catalog(&stack, &url, &["rebuild"]).unwrap();
    assert!(!output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains(&photos[2].to_string()), "{printed}");
    assert!(printed.contains("DISAGREE"), "{printed}");
}
