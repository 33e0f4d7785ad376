//! `bench store`: the event store at scale. With a generated history of 10,000,000 events in
//! the store ([`generate`]): appends through the write API beside the same on an empty store
//! ([`appends`]); the plans of the statements that must stay on index scans however large the
//! table grows, captured as the code runs them ([`plans`]); and the tables' and indexes' sizes,
//! per million events and per million photos.

mod appends;
mod generate;
mod plans;

use catalog_event_store::store;
use catalog_relay::{Relay, RelayConfig};
use catalog_tests::pipeline::Stack;
use catalog_tests::stack_env;
use sqlx::{Connection, PgConnection, PgPool};

/// What `bench store` is asked for.
pub struct Settings {
    pub events: usize,
    /// Appends measured of each kind, in each run.
    pub appends: usize,
    pub concurrency: usize,
    pub relay: RelayConfig,
}

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    plans::capture();
    let url = generate::database(settings.events).await?;
    // The relay publishes to the bus; of the queues, only the one every stack needs (S3's
    // upload events), whose rule takes none of the events the bench appends.
    let stack = Stack::create_with(|resources| {
        let uploads = resources.upload_events.queue_role;
        resources.queues.retain(|queue| queue.role == uploads);
    })
    .await?;
    let pool = store::connect(&url, 4).await?;
    let (events, photos) = counts(&pool).await?;
    println!("the store holds {events} events of {photos} photos");
    let at = format!("{events} events");

    println!(
        "\nappends through the write API: {} of each kind a run, at concurrency {}",
        settings.appends, settings.concurrency
    );
    appends::compare(&stack, &url, &at, settings.appends, settings.concurrency).await?;

    println!("\nplans at {at}, as the code runs its statements (auto_explain: ANALYZE, BUFFERS)");
    plans::explain(&stack, &url, &pool, settings.relay.clone()).await?;
    // What the bench appended is published, as the relay would have, so that the next run
    // finds the outbox as small as this one did.
    let relay = Relay::new(pool.clone(), &stack.sdk, &stack.resources, settings.relay);
    let mut published = 0;
    loop {
        let round = relay.round().await?;
        if round.claimed == 0 {
            break;
        }
        published += round.published;
    }
    println!("\nthe relay published the other {published} events this run appended");
    sizes(&pool).await
}

/// Drops the database at `url`, closing the connections still open to it.
async fn drop_database(url: &str) -> anyhow::Result<()> {
    let name = url::Url::parse(url)?
        .path()
        .trim_start_matches('/')
        .to_owned();
    let mut admin = PgConnection::connect(&stack_env("CATALOG_TEST_DATABASE_URL")?).await?;
    sqlx::raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    Ok(())
}

/// Events stored, and photos (each has its data key).
async fn counts(pool: &PgPool) -> anyhow::Result<(i64, i64)> {
    Ok(
        sqlx::query_as("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM photo_keys)")
            .fetch_one(pool)
            .await?,
    )
}

/// The tables' and the events table's indexes' sizes, in all and per million events and
/// photos.
async fn sizes(pool: &PgPool) -> anyhow::Result<()> {
    let (events, photos) = counts(pool).await?;
    let (payload, metadata): (f64, f64) = sqlx::query_as(
        "SELECT avg(pg_column_size(payload))::float8, avg(pg_column_size(metadata))::float8 \
         FROM events TABLESAMPLE SYSTEM (1)",
    )
    .fetch_one(pool)
    .await?;
    println!(
        "\nsizes with {events} events of {photos} photos (an event's payload {payload:.0} bytes, its metadata {metadata:.0}, as stored)"
    );
    let per = |bytes: i64, count: i64| bytes as f64 / 1_048_576.0 / (count as f64 / 1e6);
    let line = |name: &str, bytes: i64| {
        println!(
            "  {name:<28} {:>9.0} MiB   {:>7.1} MiB per million events   {:>7.1} MiB per million photos",
            bytes as f64 / 1_048_576.0,
            per(bytes, events),
            per(bytes, photos)
        );
    };
    let tables: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, pg_table_size(oid), pg_indexes_size(oid), pg_total_relation_size(oid) \
         FROM pg_class WHERE relname = ANY($1) ORDER BY pg_total_relation_size(oid) DESC",
    )
    .bind(["events", "photo_keys", "products", "photo_snapshots", "idempotency_keys"])
    .fetch_all(pool)
    .await?;
    for (table, heap, indexes, total) in &tables {
        line(&format!("{table} (all)"), *total);
        line("  its rows (with TOAST)", *heap);
        line("  its indexes", *indexes);
    }
    let indexes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index \
         WHERE indrelid = 'events'::regclass ORDER BY 2 DESC",
    )
    .fetch_all(pool)
    .await?;
    println!("  the events table's indexes:");
    for (index, bytes) in indexes {
        line(&format!("  {index}"), bytes);
    }
    Ok(())
}
