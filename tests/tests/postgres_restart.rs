//! The write API while its PostgreSQL restarts under load, and while its pooled connections
//! reach a server that no longer takes writes (a failover's old writer), on a cluster of the
//! test's own (the machine's shared server is not the test's to restart). Clients send creations
//! and edits throughout. Every request must be answered a success or `503` with `Retry-After`
//! (never a `500`, never no answer), every success must be in the event store, and successes
//! must come back by themselves, the write API never restarted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use catalog_tests::postgres::PrivatePostgres;
use catalog_tests::{WriteApi, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tokio::time::Instant;

/// Clients sending at once.
const CLIENTS: usize = 6;
/// Longer than any answer may take: the pool waits 5 s for a connection, a statement less.
const NO_ANSWER: Duration = Duration::from_secs(20);
/// How soon after the server is back (or writable again) successes must be answered again.
const RECOVERY: Duration = Duration::from_secs(30);

/// How one request was answered.
#[derive(Debug, Clone)]
enum Outcome {
    Created(String),
    /// The photo and its version after the edit.
    Edited(String, i64),
    /// `503` with `Retry-After`.
    Unavailable,
    /// Anything else: what the test must never see.
    Wrong(String),
}

/// A write API on a database of a private cluster, and the clients sending to it.
struct Load {
    api: Arc<WriteApi>,
    outcomes: Arc<Mutex<Vec<(Instant, Outcome)>>>,
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    async fn start(postgres: &PrivatePostgres) -> Self {
        let mut admin = PgConnection::connect(&postgres.url("postgres"))
            .await
            .unwrap();
        sqlx::raw_sql("CREATE DATABASE catalog")
            .execute(&mut admin)
            .await
            .unwrap();
        let api = Arc::new(
            WriteApi::spawn_on_database(postgres.url("catalog"), |config| {
                config.limits.seller_burst = u32::MAX;
                config.limits.seller_per_sec = u32::MAX;
            })
            .await
            .unwrap(),
        );
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..CLIENTS)
            .map(|client| {
                let (api, outcomes, stop) =
                    (Arc::clone(&api), Arc::clone(&outcomes), Arc::clone(&stop));
                tokio::spawn(async move {
                    let seller = format!("seller-{client}");
                    let mut photo: Option<String> = None;
                    let mut sent = 0_usize;
                    while !stop.load(Ordering::SeqCst) {
                        // Mostly edits of the client's latest photo, a creation every third.
                        let outcome = match &photo {
                            Some(id) if !sent.is_multiple_of(3) => {
                                edit(&api, &seller, id, sent).await
                            }
                            _ => create(&api, &seller).await,
                        };
                        if let Outcome::Created(id) = &outcome {
                            photo = Some(id.clone());
                        }
                        outcomes.lock().unwrap().push((Instant::now(), outcome));
                        sent += 1;
                    }
                })
            })
            .collect();
        Self {
            api,
            outcomes,
            stop,
            clients,
        }
    }

    /// Waits until `count` successes were answered after `since`.
    async fn successes_after(&self, since: Instant, count: usize, within: Duration) {
        eventually(within, || async {
            let outcomes = self.outcomes.lock().unwrap();
            let successes = outcomes
                .iter()
                .filter(|(at, outcome)| {
                    *at > since && matches!(outcome, Outcome::Created(_) | Outcome::Edited(..))
                })
                .count();
            Ok((successes >= count).then_some(()))
        })
        .await
        .unwrap_or_else(|_| {
            panic!("fewer than {count} successes within {within:?} (the write API did not come back by itself)")
        });
    }

    /// Stops the clients and checks every answer: a success or a `503` with `Retry-After`,
    /// every success in the event store.
    async fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        for client in self.clients {
            client.await.unwrap();
        }
        let outcomes: Vec<Outcome> = self
            .outcomes
            .lock()
            .unwrap()
            .iter()
            .map(|(_, outcome)| outcome.clone())
            .collect();
        let wrong: Vec<&String> = outcomes
            .iter()
            .filter_map(|outcome| match outcome {
                Outcome::Wrong(what) => Some(what),
                _ => None,
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "answers neither a success nor a 503 with Retry-After: {wrong:?}"
        );
        let stored: HashSet<(String, i64, String)> =
            sqlx::query_as("SELECT aggregate_id, sequence, event_type FROM events")
                .fetch_all(&self.api.pool)
                .await
                .unwrap()
                .into_iter()
                .collect();
        for outcome in &outcomes {
            match outcome {
                Outcome::Created(photo) => assert!(
                    stored.contains(&(photo.clone(), 1, "PhotoUploadRequested".into())),
                    "created photo {photo} is not in the event store"
                ),
                Outcome::Edited(photo, version) => assert!(
                    stored.contains(&(photo.clone(), *version, "PhotoDetailsUpdated".into())),
                    "the edit of {photo} to version {version} is not in the event store"
                ),
                Outcome::Unavailable | Outcome::Wrong(_) => {}
            }
        }
        let unavailable = outcomes
            .iter()
            .filter(|outcome| matches!(outcome, Outcome::Unavailable))
            .count();
        println!(
            "{} requests: {} successes, {unavailable} answered 503 with Retry-After",
            outcomes.len(),
            outcomes.len() - unavailable
        );
    }
}

async fn create(api: &WriteApi, seller: &str) -> Outcome {
    let body = json!({"product_id": format!("sku-{seller}"), "filename": "p.jpg", "content_type": "image/jpeg", "size_bytes": 100});
    let request = api
        .as_seller(Method::POST, "/v1/photos", seller)
        .json(&body);
    answer(request, StatusCode::CREATED, |body| {
        Outcome::Created(body["photo_id"].as_str().unwrap_or_default().to_owned())
    })
    .await
}

async fn edit(api: &WriteApi, seller: &str, photo: &str, n: usize) -> Outcome {
    let request = api
        .as_seller(Method::PATCH, &format!("/v1/photos/{photo}"), seller)
        .json(&json!({"caption": format!("caption {n}")}));
    answer(request, StatusCode::OK, |body| {
        Outcome::Edited(
            photo.to_owned(),
            body["version"].as_i64().unwrap_or_default(),
        )
    })
    .await
}

/// Sends `request` and sorts its answer: `success` of the body when it is `expected`.
async fn answer(
    request: reqwest::RequestBuilder,
    expected: StatusCode,
    success: impl FnOnce(&Value) -> Outcome,
) -> Outcome {
    let response = match tokio::time::timeout(NO_ANSWER, request.send()).await {
        Err(_) => return Outcome::Wrong(format!("no answer within {NO_ANSWER:?}")),
        Ok(Err(error)) => return Outcome::Wrong(format!("no answer: {error}")),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .contains_key(reqwest::header::RETRY_AFTER);
    let body = response.text().await.unwrap_or_default();
    match status {
        _ if status == expected => match serde_json::from_str::<Value>(&body) {
            Ok(body) => success(&body),
            Err(_) => Outcome::Wrong(format!("{status} with a body that is not JSON: {body}")),
        },
        StatusCode::SERVICE_UNAVAILABLE if retry_after => Outcome::Unavailable,
        _ => Outcome::Wrong(format!("{status} (Retry-After: {retry_after}): {body}")),
    }
}

/// When the server last started.
async fn started_at(postgres: &PrivatePostgres) -> chrono::DateTime<chrono::Utc> {
    let mut connection = PgConnection::connect(&postgres.url("postgres"))
        .await
        .unwrap();
    sqlx::query_scalar("SELECT pg_postmaster_start_time()")
        .fetch_one(&mut connection)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_write_api_answers_again_by_itself_after_postgres_restarts_under_load() {
    let postgres = Arc::new(PrivatePostgres::start().unwrap());
    let load = Load::start(&postgres).await;
    load.successes_after(Instant::now(), 30, RECOVERY).await;

    let before = started_at(&postgres).await;
    let restarting = Arc::clone(&postgres);
    tokio::task::spawn_blocking(move || restarting.restart())
        .await
        .unwrap()
        .unwrap();
    let back = Instant::now();
    assert!(
        started_at(&postgres).await > before,
        "the server did not restart"
    );
    load.successes_after(back, 30, RECOVERY).await;
    load.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_to_a_server_that_no_longer_takes_writes_are_replaced() {
    let postgres = PrivatePostgres::start().unwrap();
    let load = Load::start(&postgres).await;
    load.successes_after(Instant::now(), 30, RECOVERY).await;

    // A failover as the pool sees it: every connection it holds reaches a server that takes no
    // more writes (the old writer), while a connection made now reaches one that does (the
    // new writer). The database's own setting applies to sessions that start from now on; the
    // server's, reloaded, to the sessions already open.
    let mut admin = PgConnection::connect(&postgres.url("postgres"))
        .await
        .unwrap();
    for statement in [
        "ALTER DATABASE catalog SET default_transaction_read_only = off",
        "ALTER SYSTEM SET default_transaction_read_only = on",
        "SELECT pg_reload_conf()",
    ] {
        sqlx::raw_sql(statement).execute(&mut admin).await.unwrap();
    }
    let failed_over = Instant::now();
    load.successes_after(failed_over, 30, RECOVERY).await;
    load.finish().await;
}
