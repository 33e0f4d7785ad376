//! `./dev bench ...`: the project's benchmarks, each side by side with the reference an issue
//! names, against the local stack. They print figures; they never pass or fail on them.
//!
//! - `write`: `POST /v1/photos` through the real write API at a fixed concurrency, next to
//!   plain single-row inserts of the same rows into the same `events` table from the same
//!   client loop.
//! - `read`: `GET /v1/photos/{id}` and a gallery page through the read API, next to the raw
//!   `GetItem` and `Query` they make, against the same endpoint from the same client loop; and
//!   a listing page's 50 products in one call, in 50 single calls, and as one `BatchGetItem`.
//! - `project`: the projector draining a queue of every event of a set of photos, published
//!   twice: events/s, and DynamoDB calls per event.
//! - `hostile-files DIR`: writes the crafted files `./dev bench hostile` sends through the
//!   running stack (`e2e --expect-failed`), for the processor's time to refuse and peak memory.
//! - `resync`: a resync of a read model that has not drifted: seconds and DynamoDB calls.
//! - `rebuild`: the blue/green rebuild into a new layout's table: seconds, DynamoDB calls and
//!   the comparison with the previous table.
//! - `long-history`: one more PATCH, and a history page, of a photo with 10,000 updates.
//! - `store`: the event store with 10,000,000 events (a generated history, kept between runs):
//!   appends beside the same on an empty store, the plans of the statements that must stay on
//!   index scans, and the tables' sizes per million events and photos.
//! - `relay`: the outbox relay draining 20,000 events to the bus, next to raw `PutEvents` of
//!   the same entries through the same client; then both with 20 ms added to every call, in
//!   front of moto and with the bus's acceptance alone.
//! - `e2e DIR`: real photos through the running local stack: upload-complete to ready,
//!   photos per hour, CPU-seconds per photo.
//! - `local-soak`: photos through the running `./dev up`: every process's resident memory and
//!   the state's disk as the catalog grows.
//! - `write --telemetry`: the write API process with metrics and traces off, then on; and
//!   `otlp-sink ADDR`, the stand-in collector `./dev bench e2e DIR --telemetry` exports to.
//!
//! The image benchmark lives beside the pipeline it measures (`images/benches`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use catalog_tests::{WriteApi, fresh_database};
use clap::{Parser, Subcommand};
use serde_json::json;
use tokio::sync::Mutex;

/// The same allocator as the `catalog` binary, since the services run in this process.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// The read API against raw DynamoDB calls.
    Read {
        #[arg(long, default_value_t = 2000)]
        count: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// The projector's throughput and DynamoDB calls per event.
    Project {
        #[arg(long, default_value_t = 200)]
        photos: usize,
    },
    /// Real photos through the running local stack: upload-complete to ready, photos/hour,
    /// CPU-seconds per photo.
    E2e {
        folder: std::path::PathBuf,
        #[arg(long, default_value_t = 100)]
        photos: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// The files are ones the processor must refuse: time each until it is failed.
        #[arg(long)]
        expect_failed: bool,
        #[command(flatten)]
        stack: e2e::Stack,
    },
    /// Photos through the running `./dev up`, sampling every process's resident memory and the
    /// state's disk after every step.
    LocalSoak {
        #[arg(long, default_value_t = 10_000)]
        photos: usize,
        #[arg(long, default_value_t = 1_000)]
        step: usize,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        #[arg(long, env = "CATALOG_RUN_DIR")]
        run_dir: std::path::PathBuf,
        #[arg(long, env = "CATALOG_STATE_DIR")]
        state_dir: std::path::PathBuf,
        #[command(flatten)]
        stack: e2e::Stack,
    },
    /// One more PATCH, and a history page, of a photo with thousands of updates.
    LongHistory {
        #[arg(long, default_value_t = 10_000)]
        updates: usize,
    },
    /// The blue/green rebuild of the read model beside the previous layout's table.
    Rebuild {
        #[arg(long, default_value_t = 10_000)]
        photos: usize,
    },
    /// Writes the hostile files of `./dev bench hostile` into a folder.
    HostileFiles { folder: std::path::PathBuf },
    /// One seller's attack on the running write API's uploads (100,000 `tags` parts, 200 slow
    /// uploads) while another seller uploads; the write API's peak memory.
    HostileUploads {
        #[arg(long, env = "CATALOG_WRITE_ADDR", default_value = "127.0.0.1:8080")]
        write_addr: String,
        #[arg(long, env = "CATALOG_JWT_SECRET", hide_env_values = true)]
        jwt_secret: String,
    },
    /// A resync with nothing drifted.
    Resync {
        #[arg(long, default_value_t = 10_000)]
        photos: usize,
    },
    /// Commands/s and latency of `POST /v1/photos` against plain Postgres inserts.
    Write {
        #[arg(long, default_value_t = 5000)]
        count: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Instead: the `catalog write-api` process with metrics and traces off, then on.
        #[arg(long)]
        telemetry: bool,
    },
    /// Takes OTLP/HTTP exports at `addr` and drops them, until killed (a stand-in collector).
    OtlpSink { addr: std::net::SocketAddr },
    /// A page of 100 of the change feed with this many events in the store.
    Feed {
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        #[arg(long, default_value_t = 400)]
        pages: usize,
    },
    /// The event store at scale: appends, plans and sizes with this many events stored.
    Store {
        #[arg(long, default_value_t = 10_000_000)]
        events: usize,
        /// Appends measured of each kind (creations, and edits of stored photos).
        #[arg(long, default_value_t = 4000)]
        appends: usize,
        /// Requests at once (each write API holds as many connections to the shared server).
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// The relay's settings (its round is explained, and it publishes what the bench
        /// appended).
        #[command(flatten)]
        relay: catalog_relay::RelayConfig,
    },
    /// `catalog backfill` of photos rendered before AVIF, against rendering them anew.
    Backfill {
        #[arg(long, default_value_t = 20)]
        photos: usize,
    },
    /// The outbox relay draining a backlog to the bus, against raw `PutEvents`; then both with
    /// a latency added to every call, in front of moto and with the bus's acceptance alone.
    Relay {
        #[arg(long, default_value_t = 20_000)]
        events: usize,
        #[arg(long, default_value_t = 2_000)]
        photos: usize,
        /// Added to every call after the first run (milliseconds).
        #[arg(long, default_value_t = 20)]
        latency_ms: u64,
        /// Calls the raw reference keeps in flight (by default as many as the relays may have:
        /// relays x rounds x the calls of a batch).
        #[arg(long)]
        raw_in_flight: Option<usize>,
        /// Relays running at once.
        #[arg(long, default_value_t = 1)]
        relays: usize,
        /// The relay's own settings, with its defaults.
        #[command(flatten)]
        relay: catalog_relay::RelayConfig,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().bench {
        Bench::Write {
            count,
            concurrency,
            telemetry: false,
        } => write(count, concurrency).await,
        Bench::Write {
            count,
            concurrency,
            telemetry: true,
        } => telemetry::write(count, concurrency).await,
        Bench::OtlpSink { addr } => {
            catalog_tests::otlp::serve(tokio::net::TcpListener::bind(addr).await?, None).await;
            Ok(())
        }
        Bench::Read { count, concurrency } => read::run(count, concurrency).await,
        Bench::Feed { events, pages } => feed::run(events, pages).await,
        Bench::Backfill { photos } => backfill::run(photos).await,
        Bench::Store {
            events,
            appends,
            concurrency,
            relay,
        } => {
            store::run(store::Settings {
                events,
                appends,
                concurrency,
                relay,
            })
            .await
        }
        Bench::Relay {
            events,
            photos,
            latency_ms,
            raw_in_flight,
            relays,
            relay,
        } => {
            relay::run(relay::Settings {
                events,
                photos,
                latency: Duration::from_millis(latency_ms),
                raw_in_flight,
                relays,
                relay,
            })
            .await
        }
        Bench::Project { photos } => pipeline::project(photos).await,
        Bench::Resync { photos } => pipeline::resync(photos).await,
        Bench::Rebuild { photos } => pipeline::rebuild(photos).await,
        Bench::LongHistory { updates } => long_history::run(updates).await,
        Bench::HostileFiles { folder } => e2e::hostile_files(&folder),
        Bench::HostileUploads {
            write_addr,
            jwt_secret,
        } => hostile_uploads(&write_addr, &jwt_secret).await,
        Bench::E2e {
            folder,
            photos,
            concurrency,
            expect_failed,
            stack,
        } => e2e::run(&folder, photos, concurrency, expect_failed, stack.into()).await,
        Bench::LocalSoak {
            photos,
            step,
            concurrency,
            run_dir,
            state_dir,
            stack,
        } => {
            local_soak::run(
                photos,
                step,
                concurrency,
                &run_dir,
                &state_dir,
                stack.into(),
            )
            .await
        }
    }
}

/// `bench hostile-uploads`: the attack, what it got, and the write API's peak memory before
/// and after it.
async fn hostile_uploads(write_addr: &str, jwt_secret: &str) -> anyhow::Result<()> {
    use catalog_tests::hostile;
    let token = |seller: &str| {
        catalog_http::auth::issue(
            Some(&jwt_secret.to_owned().into()),
            seller,
            std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
        )
    };
    let pid = hostile::pid_of("write-api")
        .ok_or_else(|| anyhow::anyhow!("no `catalog write-api` process is running"))?;
    let before = hostile::peak_memory(pid)?;
    let started = std::time::Instant::now();
    let photo = catalog_tests::jpeg(64, 48);
    let report = hostile::attack(
        write_addr,
        &token("seller-attacker")?,
        &token("seller-honest")?,
        &photo,
    )
    .await;
    let after = hostile::peak_memory(pid)?;
    let (flood, sent) = &report.flood;
    println!("tags flood: {flood:?} (the client had put {sent} of 100000 parts on the wire)");
    println!("200 slow uploads of one seller: {:?}", report.slow);
    println!(
        "the other seller's 3 uploads meanwhile: {:?}",
        report.honest
    );
    println!(
        "write API peak resident memory: {:.1} MiB before the attack, {:.1} MiB after ({:.0} s)",
        before as f64 / 1_048_576.0,
        after as f64 / 1_048_576.0,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

mod backfill;
mod e2e;
mod feed;
mod local_soak;
mod long_history;
mod pipeline;
mod read;
mod relay;
mod store;
mod telemetry;

/// Throughput and latency percentiles of one run.
pub struct Figures {
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

impl Figures {
    pub fn print(&self, name: &str) {
        println!(
            "{name:<34} {:>9.0}/s   p50 {:>7.2} ms   p99 {:>7.2} ms",
            self.per_second,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3
        );
    }
}

/// Runs `count` calls of `call` (given the call's index) `concurrency` at a time.
pub async fn drive<F, Fut>(count: usize, concurrency: usize, call: F) -> anyhow::Result<Figures>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(Mutex::new(0usize));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (call, next) = (Arc::clone(&call), Arc::clone(&next));
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let index = {
                        let mut next = next.lock().await;
                        *next += 1;
                        *next - 1
                    };
                    if index >= count {
                        return anyhow::Ok(latencies);
                    }
                    let sent = Instant::now();
                    call(index).await?;
                    latencies.push(sent.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(count);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let at = |quantile: f64| latencies[((latencies.len() - 1) as f64 * quantile) as usize];
    Ok(Figures {
        per_second: count as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    })
}

fn photo_body(index: usize) -> serde_json::Value {
    json!({
        "product_id": format!("sku-{}", index % 500),
        "filename": format!("photo-{index}.jpg"),
        "content_type": "image/jpeg",
        "size_bytes": 2_000_000 + index,
        "checksum_sha256": format!("{index:064x}"),
        "caption": "A product photo",
        "tags": ["bench"],
    })
}

async fn write(count: usize, concurrency: usize) -> anyhow::Result<()> {
    println!("write side: {count} commands at concurrency {concurrency}");
    let api = Arc::new(
        WriteApi::spawn_with(|config| {
            config.database.max_connections = concurrency as u32;
            // The bench measures the service, not its limits.
            config.limits.seller_burst = u32::MAX;
            config.limits.seller_per_sec = u32::MAX;
        })
        .await?,
    );
    let token = Arc::new(api.token("bench-seller"));
    // Warm the connections of both sides before measuring.
    let warm = Arc::clone(&api);
    let warm_token = Arc::clone(&token);
    drive(concurrency * 4, concurrency, move |index| {
        let (api, token) = (Arc::clone(&warm), Arc::clone(&warm_token));
        async move { create(&api, &token, index).await }
    })
    .await?;
    let service_api = Arc::clone(&api);
    let service = drive(count, concurrency, move |index| {
        let (api, token) = (Arc::clone(&service_api), Arc::clone(&token));
        async move { create(&api, &token, index).await }
    })
    .await?;

    // The reference writes the same rows into the same table (our migrations: the outbox
    // columns and index included), one autocommitted INSERT each.
    let pool =
        catalog_event_store::store::connect(&fresh_database().await?, concurrency as u32).await?;
    let payload = Arc::new(photo_body(0));
    let insert = drive(count, concurrency, move |_| {
        let (pool, payload) = (pool.clone(), Arc::clone(&payload));
        async move {
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                 event_version, payload, metadata) VALUES ('Photo', $1, 1, 'PhotoUploadRequested', '2.0', $2, $3)",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(&*payload)
            .bind(json!({"correlation_id": "bench"}))
            .execute(&pool)
            .await?;
            Ok(())
        }
    })
    .await?;

    service.print("POST /v1/photos (write API)");
    insert.print("plain INSERT (reference)");
    println!(
        "ratio: {:.2} of the plain insert rate",
        service.per_second / insert.per_second
    );
    Ok(())
}

async fn create(api: &WriteApi, token: &str, index: usize) -> anyhow::Result<()> {
    let response = api
        .http
        .post(api.url("/v1/photos"))
        .bearer_auth(token)
        .json(&photo_body(index))
        .send()
        .await?;
    let status = response.status();
    anyhow::ensure!(
        status == reqwest::StatusCode::CREATED,
        "POST answered {status}"
    );
    response.bytes().await.context("reading the answer")?;
    Ok(())
}
