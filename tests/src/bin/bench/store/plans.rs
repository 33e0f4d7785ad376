//! The plans of the statements the code runs, as it runs them: `auto_explain` on the
//! connections of a pool of its own logs every statement's plan with its actual rows, times and
//! buffers (what `EXPLAIN (ANALYZE, BUFFERS)` prints) and sends it to the client as a notice,
//! which sqlx hands to `tracing` (target `sqlx::postgres::notice`) and this captures. So the
//! statements explained are the code's own, with the parameters it binds, and none is written
//! out here again. [`explain`] runs each path the table's size could slow.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use catalog_event_store::aggregate::{PhotoCommand, PhotoServices};
use catalog_event_store::store::{PhotoStore, outbox};
use catalog_relay::{Relay, RelayConfig};
use catalog_tests::pipeline::Stack;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// What every connection of an explained pool runs first. `auto_explain` may be loaded by a
/// superuser (as the local stack's user is); nested statements are those of the append's
/// trigger.
const AUTO_EXPLAIN: [&str; 8] = [
    "LOAD 'auto_explain'",
    "SET auto_explain.log_min_duration = 0",
    "SET auto_explain.log_analyze = on",
    "SET auto_explain.log_buffers = on",
    "SET auto_explain.log_triggers = on",
    "SET auto_explain.log_nested_statements = on",
    "SET auto_explain.log_level = notice",
    "SET client_min_messages = notice",
];

/// The notices captured so far.
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static CAPTURED: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    CAPTURED.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

/// Makes the process's `tracing` subscriber capture the server's notices (and nothing else).
pub fn capture() {
    let sink = Arc::clone(captured());
    tracing_subscriber::fmt()
        .with_env_filter("sqlx::postgres::notice=info")
        .with_writer(move || Captured(Arc::clone(&sink)))
        .without_time()
        .with_target(false)
        .with_level(false)
        .with_ansi(false)
        .init();
}

struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A pool whose every statement's plan is captured.
async fn explained_pool(url: &str) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(2)
        .after_connect(|connection, _| Box::pin(auto_explain(connection)))
        .connect(url)
        .await?)
}

async fn auto_explain(connection: &mut PgConnection) -> Result<(), sqlx::Error> {
    for statement in AUTO_EXPLAIN {
        sqlx::query(statement).execute(&mut *connection).await?;
    }
    Ok(())
}

/// Prints `what` and the plans of the statements `run` made on an explained pool.
async fn print<T>(what: &str, run: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    take();
    let result = run.await?;
    println!("\n--- {what}");
    for line in take().lines() {
        println!("  {line}");
    }
    Ok(result)
}

fn take() -> String {
    let mut captured = captured()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    String::from_utf8_lossy(&std::mem::take(&mut *captured)).into_owned()
}

/// Runs each read the scale could slow on an explained pool, printing the plans of its
/// statements: on photos and a seller of the generated history.
pub async fn explain(
    stack: &Stack,
    url: &str,
    pool: &PgPool,
    relay: RelayConfig,
) -> anyhow::Result<()> {
    let explained = explained_pool(url).await?;
    let store = PhotoStore::new(explained.clone(), PhotoServices::default());
    let relay = Relay::new(explained.clone(), &stack.sdk, &stack.resources, relay);
    let round = print(
        "the relay's round: its claim of unpublished events (the outbox's partial index), their photos folded, marked published",
        relay.round(),
    )
    .await?;
    println!("  ({} events claimed)", round.claimed);
    let backlog = print(
        "the outbox's backlog, which the write API measures every 5 s",
        async { Ok(outbox::backlog(&explained).await?) },
    )
    .await?;
    println!("  ({} events unpublished)", backlog.events);

    // A generated photo with an edit, and the seller with the most events.
    let (photo, seller): (String, String) = sqlx::query_as(
        "SELECT aggregate_id, seller_id FROM events \
         WHERE event_type = 'PhotoDetailsUpdated' AND seller_id LIKE 'seller-%' LIMIT 1",
    )
    .fetch_one(pool)
    .await?;
    let photo: Uuid = photo.parse()?;
    let page = print("a photo's history, its first page of 100", async {
        Ok(store.history(photo, 0, 100).await?)
    })
    .await?;
    println!("  ({} events)", page.map_or(0, |page| page.events.len()));
    let biggest = super::generate::biggest_seller();
    let feed: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE seller_id = $1")
        .bind(&biggest)
        .fetch_one(pool)
        .await?;
    let cursor: Option<i64> = sqlx::query_scalar(
        "SELECT position FROM events WHERE seller_id = $1 \
         ORDER BY transaction_id, position OFFSET $2 LIMIT 1",
    )
    .bind(&biggest)
    .bind(feed / 2)
    .fetch_optional(pool)
    .await?;
    let changes = print(
        &format!("a page of 100 of the change feed of the seller with the most events ({feed}), from its middle"),
        async { Ok(store.changes(&biggest, cursor, 100).await?) },
    )
    .await?;
    println!(
        "  ({} changes)",
        changes.map_or(0, |page| page.changes.len())
    );
    print(
        "a photo's load (its snapshot and data key, then its events after it)",
        async { Ok(store.load(photo).await?) },
    )
    .await?;
    print(
        "an edit of the photo: its load, then the append (one statement; its trigger nested)",
        async {
            let command = PhotoCommand::UpdateDetails {
                seller_id: seller.clone(),
                caption: Some(format!("explained {}", Uuid::new_v4())),
                alt_text: None,
                tags: None,
            };
            Ok(store.execute(photo, command, "bench").await?)
        },
    )
    .await?;
    Ok(())
}
