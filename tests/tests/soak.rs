//! A short soak (the long one is `./dev soak`): photos through every part as `catalog`
//! processes while workers are SIGKILLed at random and PostgreSQL crashes twice; nothing lost,
//! stuck or divergent, and a resync finds nothing to repair.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use catalog_tests::soak::{self, SoakConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_survive_killed_workers_and_database_crashes() {
    let report = soak::run(&SoakConfig {
        photos: 60,
        concurrency: 6,
        kill_every: Duration::from_millis(700),
        database_restarts: 2,
        settle_within: Duration::from_secs(180),
    })
    .await
    .unwrap();
    println!("soak: {report}");
    assert!(
        report.kills > 0 && report.database_restarts == 2,
        "{report}"
    );
    assert!(report.clean(), "{report}");
}
