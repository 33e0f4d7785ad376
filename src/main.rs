//! `catalog`: the one binary of the photo catalog, a subcommand per part, so that one
//! container image runs every service (see `ARCHITECTURE.md`).
//!
//! Every part sets up its logs and traces ([`telemetry`]) and, given `CATALOG_METRICS_ADDR`,
//! serves its metrics there; `catalog alive` is a worker container's health check, and
//! `catalog trace` prints a photo's journey ([`journey`]).

mod journey;
mod telemetry;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use catalog_event_store::aggregate::PhotoServices;
use catalog_event_store::database::DatabaseConfig;
use catalog_event_store::store::PhotoStore;
use catalog_events::resources::{QueueRole, Resources};
use catalog_http::auth::{self, AuthConfig};
use catalog_image_processor::backfill::BackfillConfig;
use catalog_image_processor::{Processor, ProcessorConfig};
use catalog_notifier::{Notifier, NotifierConfig};
use catalog_projections::projector::{Projector, ProjectorConfig};
use catalog_read_side::config::ReadApiConfig;
use catalog_relay::{Relay, RelayConfig, quarantine, republish};
use catalog_runtime::aws;
use catalog_runtime::metrics::MetricsConfig;
use catalog_runtime::queue::Queue;
use catalog_runtime::shutdown;
use catalog_write_side::config::WriteApiConfig;
use clap::{Parser, Subcommand};
use telemetry::{LogFormat, Telemetry};
use uuid::Uuid;

/// mimalloc: the services allocate many small, short-lived buffers per request (JSON, SDK
/// requests), where it is markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "catalog", version, about = "The photo catalog service")]
struct Cli {
    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(
        long,
        env = "CATALOG_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    /// Prefix of every AWS resource name of `infra-cdk/resources.json` (side-by-side stacks).
    #[arg(
        long,
        env = "CATALOG_RESOURCE_PREFIX",
        default_value = "",
        global = true
    )]
    resource_prefix: String,
    #[command(flatten)]
    metrics: MetricsConfig,
    #[command(subcommand)]
    command: Command,
}

/// The queues of `resources.json`, by their consumer.
#[derive(Clone, Copy, clap::ValueEnum)]
enum QueueName {
    Images,
    Projector,
    Notifier,
}

impl From<QueueName> for QueueRole {
    fn from(name: QueueName) -> Self {
        match name {
            QueueName::Images => Self::Images,
            QueueName::Projector => Self::Projector,
            QueueName::Notifier => Self::Notifier,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the command API (write side).
    WriteApi(Box<WriteApiConfig>),
    /// Serve the query API (read side).
    ReadApi(ReadApiConfig),
    /// Publish stored events to the EventBridge bus (the outbox relay).
    Relay {
        #[command(flatten)]
        database: DatabaseConfig,
        #[command(flatten)]
        relay: RelayConfig,
    },
    /// Make the variants of uploaded photos (the image processor).
    ProcessImages {
        #[command(flatten)]
        database: DatabaseConfig,
        #[command(flatten)]
        processor: ProcessorConfig,
    },
    /// Send the webhooks of photos that became ready or failed (the notifier).
    Notify {
        #[command(flatten)]
        database: DatabaseConfig,
        #[command(flatten)]
        notifier: NotifierConfig,
    },
    /// Keep the DynamoDB read model up to date from the projector's queue.
    Project(ProjectorConfig),
    /// Repair the read model from the event store, and print what it found (exits non-zero
    /// if a photo could not be repaired).
    Resync {
        #[command(flatten)]
        database: DatabaseConfig,
        /// Report what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Build the read model's table of this layout from the event store, beside the previous
    /// layout's, and compare it with both; exits non-zero unless they agree (switch the
    /// services to the new table only then).
    Rebuild {
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Have the relay publish again every event it published since a moment (RFC 3339), for
    /// a bus or queues that lost what they held; consumers take what they had already in
    /// their stride.
    Republish {
        #[command(flatten)]
        database: DatabaseConfig,
        #[arg(long)]
        since: chrono::DateTime<chrono::Utc>,
    },
    /// List the events the relay set aside as never publishable.
    Quarantined {
        #[command(flatten)]
        database: DatabaseConfig,
        /// Hand them all back to the relay (once what stopped them is fixed).
        #[arg(long)]
        release: bool,
    },
    /// Operators' actions on products.
    Product {
        #[command(subcommand)]
        action: ProductAction,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Make what ready photos lack (a WebP, the placeholder: a new render; the AVIF), behind
    /// new uploads; prints its progress and a report (exits non-zero if a photo timed out).
    Backfill {
        #[command(flatten)]
        database: DatabaseConfig,
        #[command(flatten)]
        backfill: BackfillConfig,
    },
    /// Erase a seller who leaves: delete every photo of theirs (their files are purged), and
    /// forget their personal fields, webhook secrets and idempotency answers.
    EraseSeller {
        seller: String,
        #[command(flatten)]
        database: DatabaseConfig,
    },
    /// Move a queue's dead-lettered messages back to it (once what stopped them is fixed).
    Redrive {
        /// The queue, by its consumer.
        queue: QueueName,
    },
    /// Print a photo's journey as a waterfall: each event appended and published, the render's
    /// stages, its webhooks, and its projection (from the event store and the read model).
    Trace {
        #[command(flatten)]
        database: DatabaseConfig,
        photo: Uuid,
    },
    /// Exit 0 if this container's part is alive: its metrics answer (at `CATALOG_METRICS_ADDR`)
    /// and each of its loops turned recently (a worker container's health check).
    Alive {
        /// How long a loop may go without a turn.
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        stale_after: Duration,
    },
    /// Decode one original from stdin, confined (the image processor starts it).
    #[command(name = catalog_images::sandbox::SUBCOMMAND, hide = true)]
    DecodeSandbox,
    /// Print a signed bearer token for a seller, for local use.
    Token {
        #[arg(long)]
        seller: String,
        /// How long the token is valid, e.g. `1h`, `30m`.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        #[command(flatten)]
        auth: AuthConfig,
    },
}

/// What an operator may do to a product.
#[derive(Debug, clap::Subcommand)]
enum ProductAction {
    /// Give a product to another seller, settling a dispute over it: each of its photos
    /// records the transfer (its history shows who owned the product when), and the former
    /// owner's photos of it leave its gallery, failed with the reason.
    Transfer {
        product: String,
        /// The seller the product now belongs to.
        #[arg(long)]
        to: String,
    },
}

impl Command {
    /// The part's name, as its subcommand (the trace's service name).
    fn part(&self) -> &'static str {
        match self {
            Self::WriteApi(_) => "write-api",
            Self::ReadApi(_) => "read-api",
            Self::Relay { .. } => "relay",
            Self::ProcessImages { .. } => "process-images",
            Self::Notify { .. } => "notify",
            Self::Project(_) => "project",
            Self::Resync { .. } => "resync",
            Self::Rebuild { .. } => "rebuild",
            _ => "cli",
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::DecodeSandbox = cli.command {
        // Before the runtime's threads and the telemetry's: it confines its one thread.
        catalog_images::sandbox::serve();
    }
    let telemetry = Telemetry::init(cli.log_format, cli.command.part())?;
    let runtime = tokio::runtime::Runtime::new()?;
    let ran = runtime.block_on(run(cli));
    drop(runtime);
    telemetry.shutdown();
    ran
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let resources = Resources::standard()?.prefixed(&cli.resource_prefix);
    let serves_metrics = !matches!(cli.command, Command::Alive { .. });
    if let (Some(addr), true) = (cli.metrics.addr, serves_metrics) {
        catalog_runtime::metrics::serve(addr)?;
        tracing::info!(%addr, "metrics served");
    }
    match cli.command {
        Command::WriteApi(config) => {
            let app = catalog_write_side::startup::build(*config, &resources)
                .await
                .context("starting the write API")?;
            tracing::info!(port = app.port(), "write API listening");
            app.run_until_stopped().await?;
        }
        Command::ReadApi(config) => {
            let app = catalog_read_side::startup::build(config, &resources)
                .await
                .context("starting the read API")?;
            tracing::info!(port = app.port(), "read API listening");
            app.run_until_stopped().await?;
        }
        Command::Relay { database, relay } => {
            let pool = database.connect().await?;
            let sdk = aws::sdk().await;
            tracing::info!(bus = %resources.bus, "relay started");
            Relay::new(pool, &sdk, &resources, relay)
                .run(shutdown::on_signal())
                .await?;
        }
        Command::ProcessImages {
            database,
            processor,
        } => {
            let pool = database.connect().await?;
            let sdk = aws::sdk().await;
            let store = Arc::new(PhotoStore::new(pool, PhotoServices::default()));
            let processor = Arc::new(Processor::new(&sdk, &resources, store, &processor).await?);
            tracing::info!("image processor started");
            processor.run(shutdown::on_signal()).await;
        }
        Command::Notify { database, notifier } => {
            let pool = database.connect().await?;
            let sdk = aws::sdk().await;
            let store = Arc::new(PhotoStore::new(pool, PhotoServices::default()));
            let notifier = Arc::new(Notifier::new(&sdk, &resources, store, &notifier).await?);
            tracing::info!("notifier started");
            notifier.run(shutdown::on_signal()).await;
        }
        Command::Project(config) => {
            let sdk = aws::sdk().await;
            let projector = Arc::new(Projector::new(&sdk, &resources, &config).await?);
            tracing::info!(table = %resources.table.name, "projector started");
            projector.run(shutdown::on_signal()).await;
        }
        Command::Resync { database, dry_run } => {
            let pool = database.connect().await?;
            let sdk = aws::sdk().await;
            let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
            let report = catalog_projections::resync::resync(
                &pool,
                &dynamodb,
                &resources.table.name,
                dry_run,
            )
            .await?;
            println!("{}{report}", if dry_run { "dry run: " } else { "" });
            report.record();
            anyhow::ensure!(
                report.skipped == 0,
                "{} photo(s) could not be repaired (each is logged above with its reason)",
                report.skipped
            );
        }
        Command::Rebuild { database } => {
            let pool = database.connect().await?;
            let sdk = aws::sdk().await;
            let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
            let previous = resources
                .previous_table
                .as_ref()
                .map(|table| table.name.as_str());
            let previous = match previous {
                Some(name) if table_exists(&dynamodb, name).await? => Some(name),
                _ => None,
            };
            let rebuilt = catalog_projections::rebuild::rebuild(
                &pool,
                &dynamodb,
                &resources.table.name,
                previous,
            )
            .await?;
            println!("{rebuilt}");
            anyhow::ensure!(rebuilt.agrees(), "the new read model does not agree");
            catalog_projections::finished("rebuild");
        }
        Command::Republish { database, since } => {
            let pool = database.connect().await?;
            let republished = republish::since(&pool, since).await?;
            println!(
                "{republished} event(s) published since {} handed back to the relay",
                since.to_rfc3339()
            );
        }
        Command::Quarantined { database, release } => {
            let pool = database.connect().await?;
            for event in quarantine::list(&pool).await? {
                println!(
                    "{} {} #{} {}: {}",
                    event.quarantined_at.to_rfc3339(),
                    event.photo_id,
                    event.sequence,
                    event.event_type,
                    event.reason
                );
            }
            if release {
                let released = quarantine::release(&pool).await?;
                println!("{released} event(s) handed back to the relay");
            }
        }
        Command::Product {
            action: ProductAction::Transfer { product, to },
            database,
        } => {
            let store = PhotoStore::new(database.connect().await?, PhotoServices::default());
            let transferred = store
                .transfer(&product, &to, "catalog product transfer")
                .await?;
            match transferred.from_seller_id {
                Some(from) if from == to => println!("product {product:?} already belongs to {to}"),
                from => println!(
                    "product {product:?} transferred from {} to {to}; {} photo(s) record it",
                    from.as_deref().unwrap_or("nobody"),
                    transferred.photos
                ),
            }
        }
        Command::Backfill { database, backfill } => {
            let store = PhotoStore::new(database.connect().await?, PhotoServices::default());
            let sdk = aws::sdk().await;
            let images = Queue::open(&sdk, &resources, QueueRole::Images).await?;
            let report =
                catalog_image_processor::backfill::backfill(&store, &images, &backfill).await?;
            println!("{report}");
            anyhow::ensure!(
                report.timed_out == 0,
                "{} photo(s) were not finished in time; run the backfill again",
                report.timed_out
            );
        }
        Command::EraseSeller { seller, database } => {
            let store = PhotoStore::new(database.connect().await?, PhotoServices::default());
            let erased = store.erase_seller(&seller, "catalog erase-seller").await?;
            println!("seller {seller:?} erased: {erased}");
        }
        Command::Redrive { queue } => {
            let sdk = aws::sdk().await;
            let moved = catalog_runtime::redrive::redrive(&sdk, &resources, queue.into()).await?;
            println!("{moved} message(s) moved back from the dead-letter queue");
        }
        Command::Trace { database, photo } => {
            let pool = database.connect().await?;
            let sdk = aws::sdk().await;
            let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
            let journey = journey::load(&pool, &dynamodb, &resources.table.name, photo).await?;
            print!("{}", journey.render());
        }
        Command::Alive { stale_after } => alive(cli.metrics, stale_after).await?,
        Command::DecodeSandbox => unreachable!("served before the runtime started"),
        Command::Token { seller, ttl, auth } => {
            let token = auth::issue(auth.jwt_secret.as_ref(), &seller, SystemTime::now() + ttl)?;
            println!("{token}");
        }
    }
    Ok(())
}

/// Whether the part serving metrics at `metrics` is alive: it answers, and none of its loops
/// went `stale_after` without a turn.
async fn alive(metrics: MetricsConfig, stale_after: Duration) -> anyhow::Result<()> {
    let addr = metrics
        .addr
        .context("CATALOG_METRICS_ADDR names no metrics endpoint to check")?;
    let host = if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    };
    let text = reqwest::Client::new()
        .get(format!("http://{host}/metrics"))
        .timeout(Duration::from_secs(4))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .context("the metrics endpoint does not answer")?
        .text()
        .await?;
    if let Some(oldest) = catalog_runtime::metrics::oldest_heartbeat(&text) {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)?
            .as_secs_f64();
        let silent = now - oldest;
        anyhow::ensure!(
            silent <= stale_after.as_secs_f64(),
            "a loop has not turned for {silent:.0} s (stuck)"
        );
    }
    Ok(())
}

/// Whether DynamoDB has the table (a previous layout's may be gone already).
async fn table_exists(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<bool> {
    match dynamodb.describe_table().table_name(table).send().await {
        Ok(_) => Ok(true),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every subcommand's arguments are consistent (unique names, valid defaults), which clap
    /// otherwise checks only when that subcommand is run.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
