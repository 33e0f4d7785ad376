//! The outbox relay with several rounds and `PutEvents` calls in flight, and two relays at once:
//! each photo's events still reach the bus in commit order, and every one of them once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use catalog_event_store::aggregate::{PhotoCommand, PhotoServices};
use catalog_event_store::store::{self, PhotoStore};
use catalog_relay::{Relay, RelayConfig};
use catalog_tests::latency::{Latency, Upstream};
use catalog_tests::pipeline::Stack;
use catalog_tests::{eventually, fresh_database, stack_env, upload_request};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const SELLER: &str = "seller-a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photos_events_reach_the_bus_in_commit_order_with_calls_in_flight() {
    let stack = Stack::create().await.unwrap();
    let url = fresh_database().await.unwrap();
    let store = PhotoStore::new(
        store::connect(&url, 8).await.unwrap(),
        PhotoServices::default(),
    );
    // 30 photos of 8 events, appended 4 of a photo at a time, photo after photo, twice: a
    // round of 40 holds 10 photos, its lanes hold several photos and some photos span two
    // calls of a lane; the other rounds in flight take the next photos, and a photo's last 4
    // events are there to be claimed while its first 4 may still be in flight.
    let photos: Vec<Uuid> = (0..30).map(|_| Uuid::now_v7()).collect();
    for block in 0..2 {
        for &photo in &photos {
            for n in 0..4 {
                let command = if block == 0 && n == 0 {
                    PhotoCommand::RequestUpload(upload_request(photo, SELLER, "sku-order"))
                } else {
                    PhotoCommand::UpdateDetails {
                        seller_id: SELLER.into(),
                        caption: Some(format!("caption {block} {n}")),
                        alt_text: None,
                        tags: None,
                    }
                };
                store.execute(photo, command, "test").await.unwrap();
            }
        }
    }
    // The bus takes 1 to 23 ms a call, unevenly: a later call sent beside an earlier one
    // would often be answered first.
    let delay = Arc::new(|n: u64| Duration::from_millis(1 + n * 7919 % 23));
    let upstream = Upstream::Endpoint(stack_env("AWS_ENDPOINT_URL").unwrap());
    let proxy = Latency::start(upstream, delay, true).await.unwrap();
    // Two relays of two rounds in flight each, all sending through the proxy.
    let sdk = proxy.sdk().await;
    let config = RelayConfig {
        batch: 40,
        in_flight: 2,
        idle_poll_secs: 1,
    };
    let stop = CancellationToken::new();
    let running: Vec<_> = (0..2)
        .map(|_| {
            let relay = Relay::new(store.pool().clone(), &sdk, &stack.resources, config.clone());
            let stop = stop.clone();
            tokio::spawn(async move { relay.run(stop).await })
        })
        .collect();
    eventually(Duration::from_secs(60), || async {
        let published: i64 =
            sqlx::query_scalar("SELECT count(*) FROM events WHERE published_at IS NOT NULL")
                .fetch_one(store.pool())
                .await?;
        Ok((published == 240).then_some(()))
    })
    .await
    .unwrap();
    stop.cancel();
    for relay in running {
        relay.await.unwrap().unwrap();
    }

    // Each call the bus received, with each of its entries' photo and sequence.
    let mut calls: Vec<_> = proxy
        .calls()
        .into_iter()
        .map(|call| {
            let body: Value = serde_json::from_slice(&call.body).unwrap();
            let entries: Vec<(String, u64)> = body["Entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|entry| {
                    let envelope: Value =
                        serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
                    (
                        envelope["aggregate_id"].as_str().unwrap().to_owned(),
                        envelope["sequence"].as_u64().unwrap(),
                    )
                })
                .collect();
            (call.received, call.answered, entries)
        })
        .collect();
    calls.sort_by_key(|(received, _, _)| *received);
    let in_flight_at_once = calls
        .iter()
        .map(|(received, _, _)| {
            calls
                .iter()
                .filter(|(r, a, _)| r <= received && received < a)
                .count()
        })
        .max()
        .unwrap();
    // A photo's call is received only once its previous one was answered, and its sequences
    // come 1, 2, 3... each once.
    let mut sequences: HashMap<&str, u64> = HashMap::new();
    let mut answered_at: HashMap<&str, std::time::Instant> = HashMap::new();
    for (received, answered, entries) in &calls {
        for (photo, sequence) in entries {
            let previous = sequences.insert(photo, *sequence).unwrap_or(0);
            assert_eq!(*sequence, previous + 1, "photo {photo} out of order");
            assert!(
                answered_at
                    .get(photo.as_str())
                    .is_none_or(|at| at <= received),
                "a call of photo {photo} was sent before the one before it was answered"
            );
        }
        for (photo, _) in entries {
            answered_at.insert(photo, *answered);
        }
    }
    assert_eq!(sequences.len(), 30);
    assert!(sequences.values().all(|sequence| *sequence == 8));
    println!(
        "{} calls, at most {in_flight_at_once} in flight at once",
        calls.len()
    );
}
