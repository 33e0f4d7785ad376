//! `bench long-history`: a photo with 10,000 details updates, as a seller looping over PATCH
//! would leave it. How long one more PATCH takes, and a page of its history, through the real
//! write API; next to reading its whole history at once, which is what every command and the
//! history did before snapshots and paging.

use std::time::{Duration, Instant};

use catalog_tests::{WriteApi, expect_json};
use reqwest::{Method, StatusCode};
use serde_json::json;

const SELLER: &str = "bench-seller";

pub async fn run(updates: usize) -> anyhow::Result<()> {
    let api = WriteApi::spawn().await?;
    let created = expect_json(
        api.create(
            SELLER,
            &json!({"product_id": "sku-long", "filename": "p.jpg", "content_type": "image/jpeg", "size_bytes": 100}),
        )
        .await?,
        StatusCode::CREATED,
    )
    .await?;
    let photo = created["photo_id"].as_str().unwrap_or_default().to_owned();
    // The updates, written as the write side writes them, in one statement.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT 'Photo', $1, n, 'PhotoDetailsUpdated', '1.0', \
                jsonb_build_object('type', 'PhotoDetailsUpdated', 'occurred_at', now(), 'caption', 'caption ' || n), \
                '{}'::jsonb \
         FROM generate_series(2, $2::bigint + 1) AS n",
    )
    .bind(&photo)
    .bind(i64::try_from(updates)?)
    .execute(&api.pool)
    .await?;
    println!("a photo with {updates} details updates");

    let patch = |n: usize| {
        api.as_seller(Method::PATCH, &format!("/v1/photos/{photo}"), SELLER)
            .json(&json!({"caption": format!("one more, {n}")}))
            .send()
    };
    let mut first = None;
    let mut patches = Vec::new();
    for n in 0..21 {
        let started = Instant::now();
        expect_json(patch(n).await?, StatusCode::OK).await?;
        let took = started.elapsed();
        if first.is_none() {
            first = Some(took);
        } else {
            patches.push(took);
        }
    }
    report(
        "PATCH, the first after the updates",
        &[first.unwrap_or_default()],
    );
    report("PATCH, the 20 after it", &patches);

    let mut pages = Vec::new();
    for after in [0, updates / 2, updates - 50] {
        for _ in 0..10 {
            let started = Instant::now();
            let page = api
                .as_seller(
                    Method::GET,
                    &format!("/v1/photos/{photo}/history?after={after}&limit=100"),
                    SELLER,
                )
                .send()
                .await?;
            expect_json(page, StatusCode::OK).await?;
            pages.push(started.elapsed());
        }
    }
    report("history page of 100", &pages);

    let mut whole = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let page = api
            .as_seller(
                Method::GET,
                &format!("/v1/photos/{photo}/history?limit=1000"),
                SELLER,
            )
            .send()
            .await?;
        expect_json(page, StatusCode::OK).await?;
        whole.push(started.elapsed());
    }
    report("history page of 1000 (the most a page holds)", &whole);
    Ok(())
}

fn report(what: &str, times: &[Duration]) {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!(
        "{what:<46} p50 {:>8.2} ms   max {:>8.2} ms   ({} calls)",
        at(0.5),
        at(1.0),
        sorted.len()
    );
}
