//! Each process's Prometheus metrics, served on a port of its own (`CATALOG_METRICS_ADDR`)
//! that no load balancer routes to: in AWS the collector beside the task scrapes it, on
//! `./dev up` the local Prometheus does. Without the setting nothing is recorded (the
//! `metrics` macros do nothing without a recorder).
//!
//! Durations are histograms with explicit buckets ([`BUCKETS`]), never summaries, so that the
//! counts of many tasks add up and a percentile can be taken over all of them. The families
//! and their labels are listed in `docs/OPERATIONS.md`; a label never holds a photo, a seller
//! or a raw path, so the series stay bounded.
//!
//! [`heartbeat`] is each worker loop's sign of life: `catalog alive` (a container's health
//! check) fails when it is stale, so a loop that is stuck is restarted, not only a process
//! that is gone.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// The name of the gauge [`heartbeat`] sets.
pub const HEARTBEAT: &str = "catalog_loop_heartbeat_timestamp_seconds";

/// The buckets of each histogram family, in seconds (and one in an encoder's quality, 0 to
/// 100).
pub const BUCKETS: &[(&str, &[f64])] = &[
    (
        "http_request_duration_seconds",
        &[
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ],
    ),
    (
        "catalog_projection_lag_seconds",
        &[
            0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
        ],
    ),
    ("catalog_image_job_seconds", JOB_BUCKETS),
    ("catalog_avif_encode_seconds", JOB_BUCKETS),
    (
        "catalog_image_quality",
        &[
            40.0, 50.0, 60.0, 65.0, 70.0, 75.0, 80.0, 85.0, 90.0, 95.0, 100.0,
        ],
    ),
    (
        "catalog_webhook_delivery_seconds",
        &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
    ),
];

const JOB_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Where a process serves its metrics.
#[derive(Debug, Clone, clap::Args)]
pub struct MetricsConfig {
    /// Address of this process's Prometheus endpoint (`127.0.0.1:9464`); none, no metrics.
    #[arg(long = "metrics-addr", env = "CATALOG_METRICS_ADDR", global = true)]
    pub addr: Option<SocketAddr>,
}

/// Installs the process's recorder and serves it on `addr` (on the current Tokio runtime).
pub fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let mut builder = PrometheusBuilder::new().with_http_listener(addr);
    for (family, buckets) in BUCKETS {
        builder = builder.set_buckets_for_metric(Matcher::Full((*family).to_owned()), buckets)?;
    }
    builder
        .install()
        .map_err(|error| anyhow::anyhow!("serving metrics on {addr}: {error}"))
}

/// Marks a turn of the loop named `name` (see [`HEARTBEAT`]).
pub fn heartbeat(name: &'static str) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64());
    metrics::gauge!(HEARTBEAT, "loop" => name).set(now);
}

/// The oldest heartbeat in a Prometheus exposition (`text`), in unix seconds, if any.
pub fn oldest_heartbeat(text: &str) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(HEARTBEAT))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_heartbeat_is_read_from_the_exposition() {
        let text = "# TYPE catalog_loop_heartbeat_timestamp_seconds gauge\n\
            catalog_loop_heartbeat_timestamp_seconds{loop=\"images\"} 1700000100.5\n\
            catalog_loop_heartbeat_timestamp_seconds{loop=\"avif\"} 1700000000\n\
            catalog_queue_in_flight{queue=\"images\"} 3\n";
        assert_eq!(oldest_heartbeat(text), Some(1_700_000_000.0));
        assert_eq!(oldest_heartbeat("catalog_queue_in_flight 1\n"), None);
    }

    #[test]
    fn every_histogram_has_rising_buckets() {
        for (family, buckets) in BUCKETS {
            assert!(buckets.windows(2).all(|pair| pair[0] < pair[1]), "{family}");
        }
    }
}
