//! `./dev soak`: the soak at full length (see `catalog_tests::soak`); it prints its figures and
//! exits non-zero if anything was lost, stuck or divergent.

use std::time::Duration;

use catalog_tests::soak::{self, SoakConfig};
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[arg(long, default_value_t = 1000)]
    photos: usize,
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// The mean pause between two kills, e.g. `2s`.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    kill_every: Duration,
    #[arg(long, default_value_t = 2)]
    database_restarts: usize,
    /// How long everything may take to settle after the last upload, e.g. `10m`.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    settle_within: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let report = soak::run(&SoakConfig {
        photos: cli.photos,
        concurrency: cli.concurrency,
        kill_every: cli.kill_every,
        database_restarts: cli.database_restarts,
        settle_within: cli.settle_within,
    })
    .await?;
    println!("soak: {report}");
    anyhow::ensure!(
        report.clean(),
        "the soak found photos lost, stuck or divergent"
    );
    Ok(())
}
