//! What an operator watches, on the parts as they run (`catalog` processes, JSON logs, each
//! with its metrics port, spans exported to a stand-in collector): one photo is one trace from
//! its create request to its webhook, through every part's logs and exported spans; every part's metrics endpoint answers with its families;
//! `catalog trace` draws the photo's journey; `catalog alive` tells a live part from a dead
//! one; and a stopped relay shows as an outbox that ages past the alert's threshold.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use catalog_tests::otlp::Collector;
use catalog_tests::pipeline::{Process, Stack, catalog_binary, run_catalog};
use catalog_tests::receiver::{Answers, Receiver};
use catalog_tests::{eventually, expect_json, fresh_database, jpeg, sha256_hex};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

const SELLER: &str = "seller-o";
/// What `prometheus/alerts.yml` calls a stalled relay (OutboxStalled).
const STALLED_AFTER_SECS: f64 = 120.0;
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("127.0.0.1:{}", listener.local_addr().unwrap().port())
}

/// The parts of the service as processes, each logging JSON to a file of its own and
/// exporting its spans to one collector.
struct Parts {
    stack: Stack,
    database_url: String,
    write: String,
    secret: String,
    logs: PathBuf,
    metrics: HashMap<&'static str, String>,
    running: HashMap<&'static str, Process>,
    http: reqwest::Client,
    collector: Collector,
}

impl Parts {
    async fn new() -> Self {
        let logs = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("observability-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&logs).unwrap();
        Self {
            stack: Stack::create().await.unwrap(),
            database_url: fresh_database().await.unwrap(),
            write: free_addr(),
            secret: format!("observability-{}", Uuid::new_v4()),
            logs,
            metrics: HashMap::new(),
            running: HashMap::new(),
            http: reqwest::Client::new(),
            collector: Collector::start().await.unwrap(),
        }
    }

    fn start(&mut self, part: &'static str) {
        let metrics = free_addr();
        let log = std::fs::File::create(self.log_path(part)).unwrap();
        let variables = [
            ("CATALOG_WRITE_ADDR", self.write.as_str()),
            ("CATALOG_JWT_SECRET", self.secret.as_str()),
            ("CATALOG_METRICS_ADDR", metrics.as_str()),
            ("CATALOG_LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", self.collector.url.as_str()),
            // The batch goes out after a second, not the default five.
            ("OTEL_BSP_SCHEDULE_DELAY", "1000"),
        ];
        let process = Process::start_logging(
            &self.stack,
            &self.database_url,
            &[part],
            &variables,
            Stdio::from(log),
        )
        .unwrap();
        self.metrics.insert(part, metrics);
        self.running.insert(part, process);
    }

    fn log_path(&self, part: &str) -> PathBuf {
        self.logs.join(format!("{part}.log"))
    }

    fn log(&self, part: &str) -> String {
        std::fs::read_to_string(self.log_path(part)).unwrap_or_default()
    }

    async fn metrics(&self, part: &str) -> anyhow::Result<String> {
        let addr = &self.metrics[part];
        Ok(self
            .http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.write)
    }

    fn token(&self) -> String {
        catalog_http::auth::issue(
            Some(&self.secret.clone().into()),
            SELLER,
            std::time::SystemTime::now() + Duration::from_secs(3600),
        )
        .unwrap()
    }

    async fn ready(&self) {
        eventually(Duration::from_secs(60), || async {
            let answer = self.http.get(self.url("/readyz")).send().await;
            Ok(answer
                .is_ok_and(|answer| answer.status() == StatusCode::OK)
                .then_some(()))
        })
        .await
        .unwrap();
    }

    /// Creates a photo (with `traceparent`, if given) and uploads it through its presigned
    /// URL; the upload-complete carries no trace of its own.
    async fn upload(&self, traceparent: Option<&str>, callback_url: Option<&str>) -> Uuid {
        let bytes = jpeg(640, 480);
        let mut create = self
            .http
            .post(self.url("/v1/photos"))
            .bearer_auth(self.token())
            .json(&json!({
                "product_id": format!("sku-{}", Uuid::new_v4().simple()),
                "filename": "lamp.jpg",
                "content_type": "image/jpeg",
                "size_bytes": bytes.len(),
                "checksum_sha256": sha256_hex(&bytes),
                "callback_url": callback_url,
            }));
        if let Some(traceparent) = traceparent {
            create = create.header("traceparent", traceparent);
        }
        let created = expect_json(create.send().await.unwrap(), StatusCode::CREATED)
            .await
            .unwrap();
        let upload = &created["upload"];
        let mut put = self.http.put(upload["url"].as_str().unwrap()).body(bytes);
        for (name, value) in upload["headers"].as_object().into_iter().flatten() {
            put = put.header(name, value.as_str().unwrap());
        }
        assert!(put.send().await.unwrap().status().is_success());
        let photo: Uuid = created["photo_id"].as_str().unwrap().parse().unwrap();
        let complete = self
            .http
            .post(self.url(&format!("/v1/photos/{photo}/upload-complete")))
            .bearer_auth(self.token())
            .send()
            .await
            .unwrap();
        assert_eq!(complete.status(), StatusCode::ACCEPTED);
        photo
    }
}

/// The value of the first sample of `family` in a Prometheus exposition.
fn sample(text: &str, family: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(family) && !line.starts_with('#'))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Log lines (JSON) of a part that name `photo` and carry `trace_id`.
fn traced_lines(log: &str, photo: Uuid, trace_id: &str) -> usize {
    let photo = photo.to_string();
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            let text = line.to_string();
            text.contains(&photo) && text.contains(trace_id)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_photo_is_one_trace_from_its_create_request_to_its_webhook() {
    let mut parts = Parts::new().await;
    for part in ["write-api", "relay", "process-images", "project", "notify"] {
        parts.start(part);
    }
    parts.ready().await;
    let receiver = Receiver::start(Answers::Script(vec![])).await.unwrap();
    let secret = parts
        .http
        .post(parts.url("/v1/webhook-secret"))
        .bearer_auth(parts.token())
        .send()
        .await
        .unwrap();
    expect_json(secret, StatusCode::CREATED).await.unwrap();

    // Given a create request that comes with a trace,
    let traceparent = format!("00-{TRACE_ID}-00f067aa0ba902b7-01");
    let photo = parts.upload(Some(&traceparent), Some(&receiver.url)).await;

    // then the webhook that says the photo is ready goes out in that trace,
    let webhook = eventually(Duration::from_secs(120), || async {
        Ok(receiver.received().into_iter().next())
    })
    .await
    .unwrap();
    assert_eq!(webhook.body["type"], "photo.ready", "{}", webhook.body);
    let sent = webhook.headers["traceparent"].to_str().unwrap().to_owned();
    let sent: catalog_events::TraceParent = sent.parse().unwrap();
    assert_eq!(sent.trace_id(), TRACE_ID);
    assert_ne!(
        sent.to_string(),
        traceparent,
        "the notifier's own span is the parent"
    );

    // and every part logged its work on the photo with the photo's id and that trace id.
    for part in ["write-api", "relay", "process-images", "project", "notify"] {
        eventually(Duration::from_secs(30), || async {
            Ok((traced_lines(&parts.log(part), photo, TRACE_ID) > 0).then_some(()))
        })
        .await
        .unwrap_or_else(|_| panic!("{part} logged nothing in the trace:\n{}", parts.log(part)));
    }

    // Every part exported its spans in that trace (OTLP: the trace id as its 16 bytes), each
    // under its own service name.
    let trace_id = hex::decode(TRACE_ID).unwrap();
    eventually(Duration::from_secs(30), || async {
        let traces = parts.collector.traces();
        let in_trace = |service: &str| {
            traces
                .iter()
                .any(|export| contains(export, service.as_bytes()) && contains(export, &trace_id))
        };
        let all = ["write-api", "relay", "process-images", "project", "notify"]
            .iter()
            .all(|part| in_trace(&format!("catalog-{part}")));
        Ok(all.then_some(()))
    })
    .await
    .expect("every part exports its spans in the photo's trace");

    // Each part's metrics endpoint answers with its families, counting this photo's way.
    let families = [
        ("write-api", "http_request_duration_seconds_bucket"),
        ("write-api", "catalog_outbox_oldest_unpublished_seconds"),
        ("relay", "catalog_events_published_total"),
        ("relay", "catalog_loop_heartbeat_timestamp_seconds"),
        ("process-images", "catalog_image_job_seconds_count"),
        ("process-images", "catalog_image_jobs_total"),
        ("process-images", "catalog_queue_messages_received_total"),
        ("project", "catalog_projection_lag_seconds_count"),
        ("project", "catalog_queue_in_flight"),
        ("notify", "catalog_webhook_delivery_seconds_bucket"),
    ];
    for (part, family) in families {
        let text = parts.metrics(part).await.unwrap();
        assert!(text.contains(family), "{part} has no {family}:\n{text}");
    }
    let processor = parts.metrics("process-images").await.unwrap();
    for stage in [
        "download", "decode", "resize", "choose", "encode", "store", "total",
    ] {
        let series =
            format!("catalog_image_job_seconds_count{{stage=\"{stage}\",outcome=\"ready\"}}");
        let alternative =
            format!("catalog_image_job_seconds_count{{outcome=\"ready\",stage=\"{stage}\"}}");
        assert!(
            processor.contains(&series) || processor.contains(&alternative),
            "no {stage} stage:\n{processor}"
        );
    }
    let lag = sample(
        &parts.metrics("project").await.unwrap(),
        "catalog_projection_lag_seconds_count",
    );
    assert!(lag.is_some_and(|count| count >= 1.0), "{lag:?}");
    let api = parts.metrics("write-api").await.unwrap();
    assert!(
        api.contains("route=\"/v1/photos/{id}/upload-complete\""),
        "{api}"
    );
    assert!(!api.contains(&photo.to_string()), "a photo id in a label");

    // `catalog trace` draws the journey from the event store and the read model.
    let output = run_catalog(
        &parts.stack,
        &parts.database_url,
        &["trace", &photo.to_string()],
    )
    .unwrap();
    let journey = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{journey}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        TRACE_ID,
        "PhotoUploadRequested",
        "render: decode",
        "render: encode",
        "PhotoWebhookDelivered",
        "on the bus",
        "read model at version",
    ] {
        assert!(journey.contains(expected), "no {expected:?} in:\n{journey}");
    }

    // A live part passes its health check; with no loop turning recently, or no answer, it
    // fails.
    let alive = |addr: &str, stale_after: &str| {
        std::process::Command::new(catalog_binary().unwrap())
            .args(["alive", "--stale-after", stale_after])
            .env("CATALOG_METRICS_ADDR", addr)
            .status()
            .unwrap()
            .success()
    };
    let relay = parts.metrics["relay"].clone();
    assert!(alive(&relay, "5m"));
    assert!(!alive(&relay, "0s"), "a heartbeat older than 0 s is stale");
    assert!(!alive(&free_addr(), "5m"), "nothing answers there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_relay_shows_as_an_outbox_that_ages_past_the_alert() {
    let mut parts = Parts::new().await;
    parts.start("write-api");
    parts.ready().await;
    // Given no relay runs, a photo's events stay in the outbox,
    parts.upload(None, None).await;
    let seen = std::sync::Mutex::new(Vec::new());
    let oldest = eventually(Duration::from_secs(240), || async {
        let text = parts.metrics("write-api").await?;
        let oldest = sample(&text, "catalog_outbox_oldest_unpublished_seconds");
        seen.lock().unwrap().extend(oldest);
        Ok(oldest.filter(|age| *age > STALLED_AFTER_SECS))
    })
    .await
    .unwrap();
    // and their age grows past the threshold of the alert (it only grew on the way).
    assert!(oldest > STALLED_AFTER_SECS);
    let seen = seen.into_inner().unwrap();
    assert!(seen.windows(2).all(|pair| pair[0] <= pair[1]), "{seen:?}");
    let unpublished = sample(
        &parts.metrics("write-api").await.unwrap(),
        "catalog_outbox_unpublished_events",
    );
    assert!(
        unpublished.is_some_and(|events| events >= 2.0),
        "{unpublished:?}"
    );

    // When the relay is back, the outbox drains and the age falls to 0.
    parts.start("relay");
    eventually(Duration::from_secs(60), || async {
        let text = parts.metrics("write-api").await?;
        Ok((sample(&text, "catalog_outbox_oldest_unpublished_seconds") == Some(0.0)).then_some(()))
    })
    .await
    .unwrap();
}
