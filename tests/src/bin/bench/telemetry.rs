//! What watching costs: the write API as the `catalog` binary runs it, first with metrics and
//! traces off (no metrics endpoint, no exporter, warnings only in the log), then on (its
//! metrics endpoint, every span exported over OTLP to a collector stand-in that takes them, and
//! the info log as JSON), under the same load; and the ratio of the two.
//!
//! The stand-in collector ([`otlp::serve`]) accepts OTLP/HTTP and drops it, so what is measured is the
//! service's own cost: making the spans, batching, encoding and sending them. `./dev bench e2e
//! --telemetry` runs it as a process of its own (`bench otlp-sink`) for the whole stack.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use catalog_tests::otlp;
use catalog_tests::pipeline::{Process, Stack};
use catalog_tests::{eventually, fresh_database};

use crate::{Figures, drive, photo_body};

/// An OTLP/HTTP endpoint in this process; its URL.
async fn otlp_sink() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(otlp::serve(listener, None));
    Ok(url)
}

fn free_addr() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}

/// `POST /v1/photos` through a `catalog write-api` process with telemetry off, then on.
pub async fn write(count: usize, concurrency: usize) -> anyhow::Result<()> {
    println!(
        "telemetry overhead: POST /v1/photos through `catalog write-api`, {count} commands at \
         concurrency {concurrency}, metrics and traces off, then on"
    );
    let stack = Stack::create().await?;
    let off = run(&stack, count, concurrency, Vec::new()).await?;
    let sink = otlp_sink().await?;
    let on = vec![
        ("CATALOG_METRICS_ADDR", free_addr()?),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", sink),
        ("CATALOG_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    let on = run(&stack, count, concurrency, on).await?;
    off.print("telemetry off");
    on.print("telemetry on (metrics, OTLP, logs)");
    println!(
        "ratio: {:.3} of the rate with telemetry off; p50 {:.3}, p99 {:.3} of its latencies",
        on.per_second / off.per_second,
        on.p50.as_secs_f64() / off.p50.as_secs_f64(),
        on.p99.as_secs_f64() / off.p99.as_secs_f64()
    );
    Ok(())
}

/// One run against a write API process of its own (its own database), with `variables` set.
async fn run(
    stack: &Stack,
    count: usize,
    concurrency: usize,
    variables: Vec<(&'static str, String)>,
) -> anyhow::Result<Figures> {
    let database_url = fresh_database().await?;
    let listen = free_addr()?;
    let secret = format!("bench-{}", uuid::Uuid::new_v4());
    let connections = concurrency.to_string();
    let mut all: Vec<(&str, &str)> = vec![
        ("CATALOG_WRITE_ADDR", &listen),
        ("CATALOG_JWT_SECRET", &secret),
        ("CATALOG_DATABASE_MAX_CONNECTIONS", &connections),
        // The bench measures the service, not its limits.
        ("CATALOG_SELLER_RATE_BURST", "4000000000"),
        ("CATALOG_SELLER_RATE_PER_SEC", "4000000000"),
    ];
    all.extend(
        variables
            .iter()
            .map(|(name, value)| (*name, value.as_str())),
    );
    // The log goes where a container's goes: written out, here to nowhere.
    let _api = Process::start_logging(stack, &database_url, &["write-api"], &all, Stdio::null())?;
    let base = format!("http://{listen}");
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(60), || async {
        let ready = http.get(format!("{base}/readyz")).send().await;
        Ok(ready
            .is_ok_and(|ready| ready.status().is_success())
            .then_some(()))
    })
    .await?;
    let token = catalog_http::auth::issue(
        Some(&secret.clone().into()),
        "bench-seller",
        std::time::SystemTime::now() + Duration::from_secs(3600),
    )?;
    let call = Arc::new((http, format!("{base}/v1/photos"), token));
    let create = move |index: usize| {
        let call = Arc::clone(&call);
        async move {
            let (http, url, token) = &*call;
            let answer = http
                .post(url)
                .bearer_auth(token)
                .json(&photo_body(index))
                .send()
                .await?;
            anyhow::ensure!(
                answer.status() == reqwest::StatusCode::CREATED,
                "POST answered {}",
                answer.status()
            );
            answer.bytes().await?;
            Ok(())
        }
    };
    // Warm the connections, then measure.
    drive(concurrency * 4, concurrency, create.clone()).await?;
    drive(count, concurrency, create).await
}
