//! The event store against the real Postgres: racing commands, old event versions, and
//! migrations run again.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::sync::Arc;

use catalog_event_store::aggregate::{PhotoCommand, PhotoError, PhotoServices};
use catalog_event_store::store::{self, Answerer, CommandError, PhotoStore, Receipt};
use catalog_events::{PhotoStatus, UploadRequested};
use catalog_tests::fresh_database;
use uuid::Uuid;

async fn store() -> PhotoStore {
    let url = fresh_database().await.unwrap();
    let pool = store::connect(&url, 40).await.unwrap();
    PhotoStore::new(pool, PhotoServices::default())
}

fn request(photo_id: Uuid) -> UploadRequested {
    catalog_tests::upload_request(photo_id, "seller-1", "sku-1")
}

async fn sequences(store: &PhotoStore, photo_id: Uuid) -> Vec<i64> {
    sqlx::query_scalar("SELECT sequence FROM events WHERE aggregate_id = $1 ORDER BY sequence")
        .bind(photo_id.to_string())
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// Commands racing on one photo: every one that succeeded left exactly one event, the
/// sequence has no gap and no duplicate, and a loser that ran out of retries left nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_commands_on_one_photo_never_lose_or_duplicate_an_event() {
    let store = Arc::new(store().await);
    let photo_id = Uuid::now_v7();
    store
        .execute(
            photo_id,
            PhotoCommand::RequestUpload(request(photo_id)),
            "test",
        )
        .await
        .unwrap();
    let racers = (0..24).map(|n| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let command = PhotoCommand::UpdateDetails {
                seller_id: "seller-1".into(),
                caption: Some(format!("caption {n}")),
                alt_text: None,
                tags: None,
            };
            store.execute(photo_id, command, "race").await
        })
    });
    let mut succeeded = 0;
    let mut gave_up = 0;
    for racer in racers.collect::<Vec<_>>() {
        match racer.await.unwrap() {
            Ok(_) => succeeded += 1,
            Err(CommandError::Conflict) => gave_up += 1,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(succeeded + gave_up, 24);
    assert!(succeeded > 0);
    let expected: Vec<i64> = (1..=1 + succeeded).collect();
    assert_eq!(sequences(&store, photo_id).await, expected);
    let state = store.load(photo_id).await.unwrap().unwrap();
    assert_eq!(state.version, 1 + succeeded as u64);
}

#[tokio::test]
async fn creating_a_photo_under_an_id_in_use_is_refused_and_appends_nothing() {
    let store = store().await;
    let photo_id = Uuid::now_v7();
    let create = || {
        store.execute(
            photo_id,
            PhotoCommand::RequestUpload(request(photo_id)),
            "test",
        )
    };
    create().await.unwrap();
    let refused = create().await.unwrap_err();
    assert!(
        matches!(refused, CommandError::Refused(PhotoError::AlreadyExists)),
        "{refused}"
    );
    assert_eq!(sequences(&store, photo_id).await, [1]);
}

#[tokio::test]
async fn a_version_1_event_in_the_store_still_loads() {
    let store = store().await;
    let photo_id = Uuid::now_v7();
    let mut v1 = serde_json::to_value(catalog_events::PhotoEvent::PhotoUploadRequested(request(
        photo_id,
    )))
    .unwrap();
    v1["tags"] = serde_json::json!("red, sale");
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('Photo', $1, 1, 'PhotoUploadRequested', '1.0', $2, '{}')",
    )
    .bind(photo_id.to_string())
    .bind(&v1)
    .execute(store.pool())
    .await
    .unwrap();

    let state = store.load(photo_id).await.unwrap().unwrap();
    assert_eq!(state.tags, ["red", "sale"]);
    assert_eq!(state.status, PhotoStatus::PendingUpload);
    let history = store
        .history(photo_id, 0, 10)
        .await
        .unwrap()
        .unwrap()
        .events;
    assert_eq!(history[0].event_version, "1.0");

    // New events follow it as usual.
    let after = store
        .execute(
            photo_id,
            PhotoCommand::Delete {
                seller_id: "seller-1".into(),
            },
            "test",
        )
        .await
        .unwrap();
    assert_eq!(after.version, 2);
}

#[tokio::test]
async fn migrations_run_again_change_nothing_and_fill_the_outbox_columns() {
    let url = fresh_database().await.unwrap();
    let first = store::connect(&url, 2).await.unwrap();
    let store = PhotoStore::new(first, PhotoServices::default());
    let photo_id = Uuid::now_v7();
    store
        .execute(
            photo_id,
            PhotoCommand::RequestUpload(request(photo_id)),
            "corr-1",
        )
        .await
        .unwrap();
    let again = store::connect(&url, 2).await.unwrap();
    let (position, unpublished, correlation): (i64, bool, String) = sqlx::query_as(
        "SELECT position, published_at IS NULL, metadata->>'correlation_id' FROM events",
    )
    .fetch_one(&again)
    .await
    .unwrap();
    assert!(position >= 1);
    assert!(unpublished);
    assert_eq!(correlation, "corr-1");
}

/// The connection of a database secret, as RDS keeps it, for the database at `url`.
fn secret_for(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    serde_json::json!({
        "engine": "postgres",
        "host": url.host_str().unwrap(),
        "port": url.port().unwrap_or(5432),
        "username": url.username(),
        "password": "rotated-elsewhere",
        "dbname": url.path().trim_start_matches('/'),
    })
    .to_string()
}

#[tokio::test]
async fn the_pool_follows_its_secret_through_a_rotation() {
    catalog_tests::stack_env("AWS_ENDPOINT_URL").unwrap();
    let (first, second) = (
        fresh_database().await.unwrap(),
        fresh_database().await.unwrap(),
    );
    let secrets = aws_sdk_secretsmanager::Client::new(&aws_config::load_from_env().await);
    let name = format!("catalog-test-{}", Uuid::new_v4());
    secrets
        .create_secret()
        .name(&name)
        .secret_string(secret_for(&first))
        .send()
        .await
        .unwrap();
    let config = catalog_event_store::database::DatabaseConfig {
        url: None,
        secret: Some(name.clone()),
        secret_refresh_secs: 1,
        max_connections: 1,
        data_key: Default::default(),
    };
    let pool = config.connect().await.unwrap();
    let database = || async {
        let mut connection = pool.acquire().await?;
        let name: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut *connection)
            .await?;
        // The next acquire opens a new connection, with whatever the pool knows by then.
        connection.close_on_drop();
        anyhow::Ok(name)
    };
    assert!(first.contains(&database().await.unwrap()));
    // Connected through the secret, the process migrated the database it names.
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'events'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(tables, 1);

    secrets
        .put_secret_value()
        .secret_id(&name)
        .secret_string(secret_for(&second))
        .send()
        .await
        .unwrap();
    catalog_tests::eventually(std::time::Duration::from_secs(20), || async {
        Ok(second.contains(&database().await?).then_some(()))
    })
    .await
    .unwrap();
}

/// A photo with hundreds of events loads from its snapshot and the events after it, and
/// gives the state its whole history folds to; a snapshot that does not read is ignored.
/// Reading it for the relay from that snapshot gives the same states as from its first event.
#[tokio::test]
async fn a_long_lived_photo_loads_from_its_snapshot_as_from_its_whole_history() {
    use catalog_event_store::store::read::{self, Photos, Start};
    use catalog_event_store::store::snapshots;
    use futures_util::TryStreamExt;

    let store = store().await;
    let photo_id = Uuid::now_v7();
    store
        .execute(
            photo_id,
            PhotoCommand::RequestUpload(request(photo_id)),
            "t",
        )
        .await
        .unwrap();
    for n in 0..250 {
        let command = PhotoCommand::UpdateDetails {
            seller_id: "seller-1".into(),
            caption: Some(format!("caption {n}")),
            alt_text: None,
            tags: None,
        };
        store.execute(photo_id, command, "t").await.unwrap();
    }
    let id = photo_id.to_string();
    let snapshot = snapshots::latest(store.pool(), &id)
        .await
        .unwrap()
        .snapshot
        .unwrap();
    assert_eq!(snapshot.sequence, 200, "a snapshot every 100 events");
    let folded: Vec<_> = read::events(store.pool(), Photos::These(&[Start::first(&id)]))
        .try_collect()
        .await
        .unwrap();
    let whole = folded.last().unwrap().after.clone();
    assert_eq!(whole.version, 251);
    assert_eq!(store.load(photo_id).await.unwrap().unwrap(), whole);

    // From the snapshot, the same states for the events after it.
    let from_snapshot: Vec<_> = read::events(
        store.pool(),
        Photos::These(&[Start {
            photo_id: id.clone(),
            snapshot: Some(snapshot.clone()),
            until: None,
        }]),
    )
    .try_collect()
    .await
    .unwrap();
    let tail: Vec<_> = folded
        .iter()
        .filter(|event| event.sequence > snapshot.sequence)
        .map(|event| (event.sequence, event.after.clone()))
        .collect();
    let read_from: Vec<_> = from_snapshot
        .iter()
        .map(|event| (event.sequence, event.after.clone()))
        .collect();
    assert_eq!(read_from, tail);

    // A snapshot of a shape this build does not read is ignored, and the photo still loads.
    sqlx::query("UPDATE photo_snapshots SET state = '{\"not\": \"a state\"}' WHERE photo_id = $1")
        .bind(&id)
        .execute(store.pool())
        .await
        .unwrap();
    assert!(
        snapshots::latest(store.pool(), &id)
            .await
            .unwrap()
            .snapshot
            .is_none()
    );
    assert_eq!(store.load(photo_id).await.unwrap().unwrap(), whole);
}

struct Versioned;

impl Answerer for Versioned {
    fn answer(&self, after: &catalog_events::PhotoState) -> (u16, serde_json::Value) {
        (202, serde_json::json!({ "version": after.version }))
    }
}

/// Under an idempotency key, the answer is stored by the statement that appends the events,
/// and a second run of the same key (one that took over a claim) appends nothing.
#[tokio::test]
async fn a_keyed_command_stores_its_answer_with_its_events_and_only_once() {
    let store = store().await;
    let photo = Uuid::now_v7();
    store
        .execute(photo, PhotoCommand::RequestUpload(request(photo)), "test")
        .await
        .unwrap();
    sqlx::query("INSERT INTO idempotency_keys (seller_id, key, request_hash) VALUES ('seller-1', 'k', '\\x00')")
        .execute(store.pool())
        .await
        .unwrap();
    let receipt = Receipt {
        seller_id: "seller-1",
        key: "k",
        answer: &Versioned,
    };
    let caption = |text: &str| PhotoCommand::UpdateDetails {
        seller_id: "seller-1".into(),
        caption: Some(text.into()),
        alt_text: None,
        tags: None,
    };
    let after = store
        .execute_with(photo, caption("first run"), "test", Some(&receipt))
        .await
        .unwrap();
    assert_eq!(after.version, 2);
    let stored: (i16, serde_json::Value) =
        sqlx::query_as("SELECT status, body FROM idempotency_keys WHERE key = 'k'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(stored, (202, serde_json::json!({"version": 2})));

    let second = store
        .execute_with(photo, caption("second run"), "test", Some(&receipt))
        .await;
    assert!(
        matches!(second, Err(CommandError::AnsweredElsewhere)),
        "{second:?}"
    );
    assert_eq!(sequences(&store, photo).await, [1, 2]);
}
