//! `catalog`: the one binary of the photo catalog, a subcommand per part, so that one
//! container image runs every service (see `ARCHITECTURE.md`).

use std::time::{Duration, SystemTime};

use anyhow::Context;
use catalog_http::auth;
use catalog_http::auth::AuthConfig;
use catalog_write_side::config::WriteApiConfig;
use catalog_write_side::startup::Application;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the command API (write side).
    WriteApi(WriteApiConfig),
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Command::WriteApi(config) => {
            let app = Application::build(config)
                .await
                .context("starting the write API")?;
            tracing::info!(port = app.port(), "write API listening");
            app.run_until_stopped().await?;
        }
        Command::Token { seller, ttl, auth } => {
            let token = auth::issue(auth.jwt_secret.as_ref(), &seller, SystemTime::now() + ttl)?;
            println!("{token}");
        }
    }
    Ok(())
}

fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}
