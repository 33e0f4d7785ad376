//! What watching costs: the write API as the `catalog` binary runs it, with metrics and traces
//! off (the info log as JSON, as deployed; no metrics endpoint, no exporter), with each of
//! them, and with both on (its metrics endpoint, and every span exported over OTLP to a
//! collector stand-in that takes them), under the same load; and, for reference, with warnings
//! only in the log. On two cores
//! shared by the client, the service and Postgres, the rate moves by several percent from run
//! to run; the CPU the service spends a command is the steadier figure, and the ratio that
//! says what watching costs.
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

use crate::e2e::cpu_seconds_of;
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

/// How many times each setting runs, in turn with the others, so that none gains from its
/// place in the order (a warmer Postgres, a fuller disk cache); the medians are compared.
const ROUNDS: usize = 5;

/// `POST /v1/photos` through a `catalog write-api` process with telemetry off, with each part
/// of it alone (metrics, the info log as JSON, traces exported), and with all of it on,
/// [`ROUNDS`] times each.
pub async fn write(count: usize, concurrency: usize) -> anyhow::Result<()> {
    println!(
        "telemetry overhead: POST /v1/photos through `catalog write-api`, {count} commands at \
         concurrency {concurrency}, {ROUNDS} rounds of each setting"
    );
    let stack = Stack::create().await?;
    let sink = otlp_sink().await?;
    let metrics = || -> anyhow::Result<Vec<(&'static str, String)>> {
        Ok(vec![("CATALOG_METRICS_ADDR", free_addr()?)])
    };
    // As deployed: the info log, as JSON.
    let logs = || {
        vec![
            ("CATALOG_LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ]
    };
    let traces = || vec![("OTEL_EXPORTER_OTLP_ENDPOINT", sink.clone())];
    let names = [
        "quiet: warnings only, nothing else",
        "off: the info log as deployed",
        "the log and metrics",
        "the log and traces (OTLP)",
        "on: the log, metrics and traces",
        "on, 1 trace in 10 kept",
    ];
    let mut measured: Vec<Vec<(Figures, f64)>> = names.iter().map(|_| Vec::new()).collect();
    for round in 1..=ROUNDS {
        for (index, name) in names.iter().enumerate() {
            let variables = match index {
                0 => Vec::new(),
                1 => logs(),
                2 => [logs(), metrics()?].concat(),
                3 => [logs(), traces()].concat(),
                4 => [logs(), metrics()?, traces()].concat(),
                // Sampled by trace id: every part keeps or drops a photo's trace alike.
                _ => [
                    logs(),
                    metrics()?,
                    traces(),
                    vec![
                        ("OTEL_TRACES_SAMPLER", "traceidratio".to_owned()),
                        ("OTEL_TRACES_SAMPLER_ARG", "0.1".to_owned()),
                    ],
                ]
                .concat(),
            };
            let (figures, cpu) = run(&stack, count, concurrency, variables).await?;
            figures.print(&format!("round {round}: {name}"));
            measured[index].push((figures, cpu));
        }
    }
    let medians: Vec<(Figures, f64)> = measured
        .into_iter()
        .map(|runs| {
            let (figures, mut cpu): (Vec<Figures>, Vec<f64>) = runs.into_iter().unzip();
            cpu.sort_by(f64::total_cmp);
            (median(figures), cpu[cpu.len() / 2])
        })
        .collect();
    for (name, (figures, cpu)) in names.iter().zip(&medians) {
        figures.print(&format!("median, {name}"));
        println!("{:<34} {:>9.1} µs of CPU a command", "", cpu * 1e6);
    }
    // Against the service as deployed without metrics and traces.
    let (off, off_cpu) = &medians[1];
    for (name, (figures, cpu)) in names.iter().zip(&medians).skip(2) {
        println!(
            "ratio, {name}: CPU a command {:.3}; rate {:.3}, p50 {:.3}, p99 {:.3}",
            cpu / off_cpu,
            figures.per_second / off.per_second,
            figures.p50.as_secs_f64() / off.p50.as_secs_f64(),
            figures.p99.as_secs_f64() / off.p99.as_secs_f64()
        );
    }
    Ok(())
}

/// Each figure's median over the rounds.
fn median(mut rounds: Vec<Figures>) -> Figures {
    let middle = rounds.len() / 2;
    rounds.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    let per_second = rounds[middle].per_second;
    rounds.sort_by_key(|figures| figures.p50);
    let p50 = rounds[middle].p50;
    rounds.sort_by_key(|figures| figures.p99);
    Figures {
        per_second,
        p50,
        p99: rounds[middle].p99,
    }
}

/// One run against a write API process of its own (its own database), with `variables` set:
/// its figures, and the CPU-seconds the process spent a command.
async fn run(
    stack: &Stack,
    count: usize,
    concurrency: usize,
    variables: Vec<(&'static str, String)>,
) -> anyhow::Result<(Figures, f64)> {
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
    let before = cpu_seconds_of("catalog")?;
    let figures = drive(count, concurrency, create).await?;
    let cpu = cpu_seconds_of("catalog")? - before;
    Ok((figures, cpu / count as f64))
}
