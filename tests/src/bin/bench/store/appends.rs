//! Appends through the write API with the generated history in the store, beside the same on an
//! empty store: creations (`POST /v1/photos`, as `bench write` sends them), then edits of stored
//! photos drawn from all over the history (`PATCH`, each a load and an append). The stores are
//! measured in the order empty, full, full, empty (each empty one a fresh database, dropped
//! after), so that a change in the machine's load weighs on both alike; the ratio is of the
//! means of the two runs of each.

use std::sync::Arc;
use std::time::Duration;

use catalog_tests::pipeline::Stack;
use catalog_tests::{WriteApi, expect_json, fresh_database};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::{Figures, drive};

const SELLER: &str = "bench-seller";

/// One run's figures on one store.
struct Run {
    created: Figures,
    edited: Figures,
}

/// Measures `count` appends of each kind at `concurrency` on the store at `url` (holding `at`)
/// and on empty stores, and prints both and their ratio.
pub async fn compare(
    stack: &Stack,
    url: &str,
    at: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let full = spawn(stack, url.to_owned(), concurrency).await?;
    let (mut empty_runs, mut full_runs) = (Vec::new(), Vec::new());
    for at_scale in [false, true, true, false] {
        if at_scale {
            full_runs.push(measure(&full, count, concurrency).await?);
        } else {
            let database = fresh_database().await?;
            let empty = spawn(stack, database.clone(), concurrency).await?;
            empty_runs.push(measure(&empty, count, concurrency).await?);
            // Its write API's connections to the shared server go with it.
            super::drop_database(&database).await?;
        }
    }
    for (kind, of) in [
        (
            "POST /v1/photos",
            (|run: &Run| &run.created) as fn(&Run) -> &Figures,
        ),
        ("PATCH /v1/photos/{id}", |run: &Run| &run.edited),
    ] {
        let empty: Vec<&Figures> = empty_runs.iter().map(of).collect();
        let full: Vec<&Figures> = full_runs.iter().map(of).collect();
        empty[0].print(&format!("{kind}, empty store (1st)"));
        full[0].print(&format!("{kind}, {at} (1st)"));
        full[1].print(&format!("{kind}, {at} (2nd)"));
        empty[1].print(&format!("{kind}, empty store (2nd)"));
        let (empty, full) = (mean(&empty), mean(&full));
        println!(
            "  ratio at scale / empty, of the means: rate {:.2}, p50 {:.2}, p99 {:.2}",
            full.per_second / empty.per_second,
            full.p50.as_secs_f64() / empty.p50.as_secs_f64(),
            full.p99.as_secs_f64() / empty.p99.as_secs_f64()
        );
    }
    Ok(())
}

/// A write API on the database at `url`, its connections warmed.
async fn spawn(stack: &Stack, url: String, concurrency: usize) -> anyhow::Result<Arc<WriteApi>> {
    let api = Arc::new(
        WriteApi::spawn_at(&stack.resources, url, |config| {
            config.database.max_connections = concurrency as u32;
            // The bench measures the store, not the limits.
            config.limits.seller_burst = u32::MAX;
            config.limits.seller_per_sec = u32::MAX;
        })
        .await?,
    );
    let (warm, token) = (Arc::clone(&api), Arc::new(api.token(SELLER)));
    drive(concurrency * 4, concurrency, move |index| {
        let (api, token) = (Arc::clone(&warm), Arc::clone(&token));
        async move { crate::create(&api, &token, index).await }
    })
    .await?;
    Ok(api)
}

async fn measure(api: &Arc<WriteApi>, count: usize, concurrency: usize) -> anyhow::Result<Run> {
    let (creating, token) = (Arc::clone(api), Arc::new(api.token(SELLER)));
    let created = drive(count, concurrency, move |index| {
        let (api, token) = (Arc::clone(&creating), Arc::clone(&token));
        async move { crate::create(&api, &token, index).await }
    })
    .await?;

    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM photo_keys")
        .fetch_one(&api.pool)
        .await?;
    // Pages at random, so the photos come from all over the history.
    let percent = (300.0 * count as f64 / stored.max(1) as f64).min(100.0);
    let photos: Arc<Vec<(String, String)>> = Arc::new(
        sqlx::query_as(
            "SELECT photo_id, seller_id FROM photo_keys TABLESAMPLE SYSTEM ($1) LIMIT $2",
        )
        .bind(percent)
        .bind(i64::try_from(count)?)
        .fetch_all(&api.pool)
        .await?,
    );
    anyhow::ensure!(!photos.is_empty(), "no stored photo to edit");
    let run = Uuid::new_v4().simple().to_string();
    let editing = Arc::clone(api);
    let edited = drive(count, concurrency, move |index| {
        let (api, photos) = (Arc::clone(&editing), Arc::clone(&photos));
        let caption = format!("edited by run {run}, {index}");
        async move {
            let (photo, seller) = &photos[index % photos.len()];
            let answer = api
                .as_seller(Method::PATCH, &format!("/v1/photos/{photo}"), seller)
                .json(&json!({ "caption": caption }))
                .send()
                .await?;
            expect_json(answer, StatusCode::OK).await?;
            Ok(())
        }
    })
    .await?;
    Ok(Run { created, edited })
}

/// The mean of runs' figures, each taken alike.
fn mean(runs: &[&Figures]) -> Figures {
    let n = runs.len() as f64;
    let average = |of: fn(&Figures) -> Duration| {
        Duration::from_secs_f64(runs.iter().map(|run| of(run).as_secs_f64()).sum::<f64>() / n)
    };
    Figures {
        per_second: runs.iter().map(|run| run.per_second).sum::<f64>() / n,
        p50: average(|run| run.p50),
        p99: average(|run| run.p99),
    }
}
