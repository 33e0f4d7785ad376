//! `bench feed`: a page of 100 of the change feed (`GET /v1/sellers/me/changes`) with 100,000
//! events in the store, beside the page's query alone (the index range scan a hand-written feed
//! over the table would run, without folding the photos), and the query's plan.

use std::sync::Arc;

use catalog_event_store::aggregate::PhotoCommand;
use catalog_tests::{WriteApi, upload_request};
use uuid::Uuid;

use crate::drive;

const SELLER: &str = "bench-seller";

pub async fn run(events: usize, pages: usize) -> anyhow::Result<()> {
    let api = Arc::new(
        WriteApi::spawn_with(|config| {
            config.limits.seller_burst = u32::MAX;
            config.limits.seller_per_sec = u32::MAX;
        })
        .await?,
    );
    let store = Arc::new(catalog_event_store::store::PhotoStore::new(
        api.pool.clone(),
        Default::default(),
    ));
    // A seller's photos of 100 events each (a declaration, 99 edits of the caption): what the
    // feed folds per page is photos with long histories, read from their snapshots.
    let photos = events.div_ceil(100);
    let ids: Arc<Vec<Uuid>> = Arc::new((0..photos).map(|_| Uuid::now_v7()).collect());
    let started = std::time::Instant::now();
    let writer = (Arc::clone(&store), Arc::clone(&ids));
    drive(events, 8, move |n| {
        let (store, ids) = (Arc::clone(&writer.0), Arc::clone(&writer.1));
        async move {
            let photo = ids[n % ids.len()];
            let command = if n < ids.len() {
                PhotoCommand::RequestUpload(upload_request(photo, SELLER, "sku-feed"))
            } else {
                PhotoCommand::UpdateDetails {
                    seller_id: SELLER.into(),
                    caption: Some(format!("caption {n}")),
                    alt_text: None,
                    tags: None,
                }
            };
            store.execute(photo, command, "bench").await?;
            Ok(())
        }
    })
    .await?;
    println!(
        "feed: {events} events of {photos} photos stored in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    // A store that has grown to this size has its statistics (autovacuum's ANALYZE).
    sqlx::query("ANALYZE events").execute(&api.pool).await?;
    let positions: Arc<Vec<i64>> = Arc::new(
        sqlx::query_scalar(
            "SELECT position FROM events WHERE seller_id = $1 ORDER BY transaction_id, position",
        )
        .bind(SELLER)
        .fetch_all(&api.pool)
        .await?,
    );
    anyhow::ensure!(
        positions.len() >= events,
        "{} events stored",
        positions.len()
    );
    // Cursors spread over the whole feed (a page from each).
    let cursor = move |n: usize| positions[(n * 7919) % (positions.len() - 100)];
    let token = Arc::new(api.token(SELLER));
    let (service_api, service_cursor) = (Arc::clone(&api), cursor.clone());
    let service = drive(pages, 4, move |n| {
        let (api, token, after) = (
            Arc::clone(&service_api),
            Arc::clone(&token),
            service_cursor(n),
        );
        async move {
            let page: serde_json::Value = api
                .http
                .get(api.url(&format!("/v1/sellers/me/changes?after={after}&limit=100")))
                .bearer_auth(&*token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            anyhow::ensure!(
                page["changes"].as_array().map_or(0, Vec::len) == 100,
                "a short page"
            );
            Ok(())
        }
    })
    .await?;
    let pool = api.pool.clone();
    let query = move |after: i64| {
        sqlx::query_as::<_, (i64, String, i64, serde_json::Value)>(
            "SELECT position, aggregate_id, sequence, payload FROM events \
             WHERE seller_id = $1 AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
               AND (transaction_id, position) > \
                   (SELECT transaction_id, position FROM events WHERE position = $2) \
             ORDER BY transaction_id, position LIMIT 100",
        )
        .bind(SELLER)
        .bind(after)
    };
    let (raw_pool, raw_cursor) = (pool.clone(), cursor.clone());
    let raw = drive(pages, 4, move |n| {
        let (pool, after) = (raw_pool.clone(), raw_cursor(n));
        async move {
            let rows = query(after).fetch_all(&pool).await?;
            anyhow::ensure!(rows.len() == 100, "a short page");
            Ok(())
        }
    })
    .await?;
    let plan: Vec<String> = sqlx::query_scalar(&format!(
        "EXPLAIN SELECT position FROM events WHERE seller_id = '{SELLER}' \
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
           AND (transaction_id, position) > \
               (SELECT transaction_id, position FROM events WHERE position = {}) \
         ORDER BY transaction_id, position LIMIT 101",
        cursor(0)
    ))
    .fetch_all(&pool)
    .await?;
    service.print("GET /v1/sellers/me/changes (100)");
    raw.print("the page's query alone (100 rows)");
    println!(
        "ratio: p50 {:.2} of the query alone",
        service.p50.as_secs_f64() / raw.p50.as_secs_f64()
    );
    println!("the page's plan:\n  {}", plan.join("\n  "));
    Ok(())
}
