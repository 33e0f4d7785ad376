//! `./dev up` itself, as a developer runs it: a worker SIGKILLed under it is restarted while
//! the APIs keep answering, and after Ctrl-C and `./dev up` again every photo is still listed
//! with its variants served. moto SIGKILLed under it while photos are uploaded comes back by
//! itself, and no accepted photo is lost. What an operator watches there: every part's metrics endpoint,
//! Prometheus scraping them all with the project's alert rules, and `catalog trace`.
//!
//! It runs on ports, a moto, a database and folders of its own (and the binaries `./dev test`
//! built), beside whatever else runs on the machine.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime};

use catalog_tests::{
    eventually, expect_json, formats_are_lighter, fresh_database, jpeg, stack_env,
};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

const SELLER: &str = "seller-1";

/// What one `./dev up` (and the next) runs with.
struct Setup {
    dir: PathBuf,
    variables: Vec<(&'static str, String)>,
    write: String,
    read: String,
    moto: String,
    secret: String,
    /// Each part's metrics endpoint.
    metrics: Vec<(&'static str, String)>,
    prometheus: String,
    binaries: PathBuf,
}

impl Setup {
    async fn new() -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("dev-up-{}", Uuid::new_v4()));
        let binaries = std::env::current_exe()
            .unwrap()
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .to_owned();
        let (write, read) = (
            format!("127.0.0.1:{}", catalog_tests::free_port().unwrap()),
            format!("127.0.0.1:{}", catalog_tests::free_port().unwrap()),
        );
        let secret = format!("dev-up-{}", Uuid::new_v4());
        let moto = catalog_tests::free_port().unwrap();
        // Ports below the kernel's ephemeral range, so that nothing else takes them meanwhile.
        let base = 20_000 + (u16::from_le_bytes([Uuid::new_v4().as_bytes()[0], 0]) % 100) * 100;
        let parts = [
            "write-api",
            "read-api",
            "relay",
            "project",
            "process-images",
            "notify",
        ];
        let metrics = (1..)
            .zip(parts)
            .map(|(offset, part)| (part, format!("http://127.0.0.1:{}", base + offset)))
            .collect();
        let prometheus = format!("127.0.0.1:{}", base + 50);
        let variables = vec![
            ("CATALOG_BIN", binaries.display().to_string()),
            ("CATALOG_MOTO_PORT", moto.to_string()),
            ("CATALOG_STATE_DIR", dir.join("state").display().to_string()),
            ("CATALOG_RUN_DIR", dir.join("run").display().to_string()),
            ("CATALOG_WRITE_ADDR", write.clone()),
            ("CATALOG_READ_ADDR", read.clone()),
            ("CATALOG_DATABASE_URL", fresh_database().await.unwrap()),
            ("CATALOG_JWT_SECRET", secret.clone()),
            ("CATALOG_SQS_WAIT_SECS", "1".into()),
            ("CATALOG_METRICS_BASE_PORT", base.to_string()),
            ("CATALOG_PROMETHEUS_ADDR", prometheus.clone()),
        ];
        Self {
            dir,
            variables,
            write: format!("http://{write}"),
            read: format!("http://{read}"),
            moto: format!("http://127.0.0.1:{moto}"),
            secret,
            metrics,
            prometheus: format!("http://{prometheus}"),
            binaries,
        }
    }

    fn token(&self) -> String {
        catalog_http::auth::issue(
            Some(&self.secret.clone().into()),
            SELLER,
            SystemTime::now() + Duration::from_secs(3600),
        )
        .unwrap()
    }

    fn pid(&self, part: &str) -> u32 {
        std::fs::read_to_string(self.dir.join("run").join(format!("{part}.pid")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

/// A running `./dev up`, in a process group of its own.
struct DevUp {
    child: Child,
    /// Its output, line by line.
    lines: mpsc::Receiver<String>,
}

impl DevUp {
    /// Starts it and waits for its banner.
    fn start(setup: &Setup) -> Self {
        let mut child = Command::new(stack_env("CATALOG_DEV").unwrap())
            .arg("up")
            .envs(setup.variables.iter().map(|(name, value)| (name, value)))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let (send, lines) = mpsc::channel();
        for output in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let send = send.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    println!("dev up: {line}");
                    let _ = send.send(line);
                }
            });
        }
        let mut up = Self { child, lines };
        up.expect_line("Ctrl-C stops everything", Duration::from_secs(300));
        up
    }

    /// Waits for a line of its output that contains `text`.
    fn expect_line(&mut self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(error) => panic!("no line with {text:?} from ./dev up: {error}"),
            }
        }
    }

    /// Ctrl-C: SIGINT to its whole process group, as a terminal sends it; waits for it to end.
    /// (Where this test runs without a terminal, SIGINT may be ignored from the start, and a
    /// shell cannot trap what it was started ignoring: SIGTERM, which `./dev` takes the same
    /// way, goes to it too.)
    fn interrupt(mut self) {
        signal(&format!("-{}", self.child.id()), "INT");
        signal(&self.child.id().to_string(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "./dev up did not stop on Ctrl-C");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for DevUp {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            signal(&format!("-{}", self.child.id()), "KILL");
            let _ = self.child.wait();
        }
    }
}

fn signal(target: &str, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), "--", target])
        .status();
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

async fn upload(http: &reqwest::Client, setup: &Setup, product: &str) -> String {
    try_upload(http, setup, product).await.unwrap()
}

/// An upload whose refusal (a `503` while a part is down, say) is an error, not a panic.
async fn try_upload(
    http: &reqwest::Client,
    setup: &Setup,
    product: &str,
) -> anyhow::Result<String> {
    let form = reqwest::multipart::Form::new()
        .text("product_id", product.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(jpeg(320, 240)).file_name("p.jpg"),
        );
    let created = http
        .post(format!("{}/v1/photos/upload", setup.write))
        .bearer_auth(setup.token())
        .multipart(form)
        .send()
        .await?;
    let created = expect_json(created, StatusCode::CREATED).await?;
    created["photo_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no photo_id in {created}"))
}

/// Waits until the product's gallery lists exactly these photos, all ready and, with `avif`,
/// with their AVIF variants (made after ready, all in one event: the large one's tells);
/// returns it. Every format each lists follows the rule: lighter than the variant's JPEG.
async fn gallery(
    http: &reqwest::Client,
    setup: &Setup,
    product: &str,
    photos: &[&str],
    avif: bool,
) -> Value {
    let page = eventually(Duration::from_secs(180), || async {
        let page = http
            .get(format!(
                "{}/v1/products/{product}/photos?limit=100",
                setup.read
            ))
            .send()
            .await?;
        let page = expect_json(page, StatusCode::OK).await?;
        let mut listed: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["photo_id"].as_str().unwrap())
            .collect();
        listed.sort_unstable();
        let mut wanted = photos.to_vec();
        wanted.sort_unstable();
        let with_avif = !avif
            || page["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|item| item["variants"]["large"]["formats"]["image/avif"].is_object());
        Ok((listed == wanted && with_avif).then_some(page.clone()))
    })
    .await
    .unwrap();
    for item in page["items"].as_array().unwrap() {
        assert!(formats_are_lighter(item), "{item:#}");
    }
    page
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_up_restarts_a_killed_worker_and_keeps_its_photos_across_a_restart() {
    let setup = Setup::new().await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut up = DevUp::start(&setup);
    let first = upload(&http, &setup, "sku-dev-up").await;
    gallery(&http, &setup, "sku-dev-up", &[&first], true).await;
    watched(&http, &setup, &first).await;

    // The relay dies; it is started again, and the APIs answer all along.
    let relay = setup.pid("relay");
    signal(&relay.to_string(), "KILL");
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        for api in [&setup.write, &setup.read] {
            let ready = http.get(format!("{api}/readyz")).send().await.unwrap();
            assert_eq!(
                ready.status(),
                StatusCode::OK,
                "{api} while the relay was down"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    up.expect_line("relay exited", Duration::from_secs(10));
    let restarted = eventually(Duration::from_secs(30), || async {
        let pid = setup.pid("relay");
        Ok((pid != relay && alive(pid)).then_some(pid))
    })
    .await
    .unwrap();
    assert!(!alive(relay));
    let second = upload(&http, &setup, "sku-dev-up").await;
    let before = gallery(&http, &setup, "sku-dev-up", &[&first, &second], true).await;
    assert!(alive(restarted));

    // Ctrl-C stops everything; started again, it has every photo and serves its variants.
    up.interrupt();
    for api in [&setup.write, &setup.read, &setup.moto] {
        assert!(
            http.get(format!("{api}/healthz")).send().await.is_err(),
            "{api} still answers"
        );
    }
    let up = DevUp::start(&setup);
    let after = gallery(&http, &setup, "sku-dev-up", &[&first, &second], true).await;
    assert_eq!(after["items"], before["items"]);
    for item in after["items"].as_array().unwrap() {
        for variant in item["variants"].as_object().unwrap().values() {
            let url = variant["url"].as_str().unwrap();
            let served = http.get(url).send().await.unwrap();
            assert_eq!(served.status(), StatusCode::OK, "{url}");
        }
    }
    up.interrupt();
}

/// moto, the stand-in for S3, DynamoDB, SQS and EventBridge, SIGKILLed twice while a seller
/// uploads: its supervisor starts it again with its objects, `./dev up` rebuilds the read model
/// and republishes the outbox on its own, both APIs are ready again within two minutes of each
/// kill (a write refused meanwhile is a `503`), and every photo that was accepted (`201`) is
/// listed ready with its variants served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_up_brings_moto_back_after_a_sigkill_and_loses_no_accepted_photo() {
    const PRODUCT: &str = "sku-moto-killed";
    let setup = Arc::new(Setup::new().await);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut up = DevUp::start(&setup);
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let uploading = Arc::new(AtomicBool::new(true));
    let uploader = tokio::spawn({
        let (setup, http, accepted, uploading) = (
            Arc::clone(&setup),
            http.clone(),
            Arc::clone(&accepted),
            Arc::clone(&uploading),
        );
        async move {
            let mut refused = Vec::new();
            while uploading.load(Ordering::Relaxed) {
                match try_upload(&http, &setup, PRODUCT).await {
                    Ok(photo) => accepted.lock().unwrap().push(photo),
                    Err(error) => refused.push(error.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            refused
        }
    });
    for kill in 1..=2 {
        let before = accepted.lock().unwrap().len();
        eventually(Duration::from_secs(60), || async {
            Ok((accepted.lock().unwrap().len() >= before + 3).then_some(()))
        })
        .await
        .expect("photos are accepted before moto is killed");
        let moto = setup.pid("moto");
        signal(&moto.to_string(), "KILL");
        let killed = Instant::now();
        up.expect_line("moto exited", Duration::from_secs(10));
        up.expect_line("moto recovered", Duration::from_secs(180));
        eventually(Duration::from_secs(120), || async {
            for api in [&setup.write, &setup.read] {
                let ready = http.get(format!("{api}/readyz")).send().await?;
                if ready.status() != StatusCode::OK {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        })
        .await
        .expect("both APIs are ready again");
        println!(
            "kill {kill}: moto back and both APIs ready {:.1} s after the SIGKILL",
            killed.elapsed().as_secs_f64()
        );
        assert!(killed.elapsed() < Duration::from_secs(120));
        assert_ne!(setup.pid("moto"), moto);
    }
    uploading.store(false, Ordering::Relaxed);
    let refused = uploader.await.unwrap();
    let accepted = accepted.lock().unwrap().clone();
    println!(
        "{} photos accepted, {} refused while moto was down",
        accepted.len(),
        refused.len()
    );
    for refusal in &refused {
        assert!(
            refusal.contains("got 503 Service Unavailable"),
            "a refusal other than 503: {refusal}"
        );
    }
    let accepted: Vec<&str> = accepted.iter().map(String::as_str).collect();
    // A photo's AVIF is made after it is ready, from pixels held in memory: one whose encode
    // the kill interrupted stays without it until the resync hands it back (not lost).
    let page = gallery(&http, &setup, PRODUCT, &accepted, false).await;
    for item in page["items"].as_array().unwrap() {
        for variant in item["variants"].as_object().unwrap().values() {
            let url = variant["url"].as_str().unwrap();
            let served = http.get(url).send().await.unwrap();
            assert_eq!(served.status(), StatusCode::OK, "{url}");
        }
    }
    up.interrupt();
}

/// What an operator watches, after one upload: each part's metrics endpoint answers with its
/// families, Prometheus has every part up and the alert rules loaded, the photo's projection
/// lag and render are counted, and `catalog trace` draws its journey.
async fn watched(http: &reqwest::Client, setup: &Setup, photo: &str) {
    let families = [
        ("write-api", "catalog_outbox_oldest_unpublished_seconds"),
        ("read-api", "http_request_duration_seconds_bucket"),
        ("relay", "catalog_events_published_total"),
        ("project", "catalog_projection_lag_seconds_bucket"),
        ("process-images", "catalog_image_job_seconds_bucket"),
        ("notify", "catalog_queue_messages_received_total"),
    ];
    for (part, family) in families {
        let url = &setup
            .metrics
            .iter()
            .find(|(name, _)| *name == part)
            .unwrap()
            .1;
        let text = eventually(Duration::from_secs(30), || async {
            let text = http
                .get(format!("{url}/metrics"))
                .send()
                .await?
                .text()
                .await?;
            Ok(text.contains(family).then_some(text))
        })
        .await
        .unwrap_or_else(|_| panic!("{part} has no {family}"));
        assert!(text.contains("catalog_") || part == "read-api", "{text}");
    }
    let prometheus = &setup.prometheus;
    eventually(Duration::from_secs(60), || async {
        let targets = http
            .get(format!("{prometheus}/api/v1/targets"))
            .send()
            .await?
            .json::<Value>()
            .await?;
        let active = targets["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let up = active
            .iter()
            .filter(|target| target["health"] == "up")
            .count();
        Ok((active.len() == 6 && up == 6).then_some(()))
    })
    .await
    .expect("Prometheus scrapes all six parts");
    let rules = http
        .get(format!("{prometheus}/api/v1/rules"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(rules.contains("OutboxStalled"), "{rules}");
    for query in [
        "sum(catalog_projection_lag_seconds_count)",
        "sum(catalog_image_job_seconds_count{stage=\"total\"})",
    ] {
        eventually(Duration::from_secs(60), || async {
            let answer = http
                .get(format!("{prometheus}/api/v1/query"))
                .query(&[("query", query)])
                .send()
                .await?
                .json::<Value>()
                .await?;
            let value = answer["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|value| value.parse::<f64>().ok());
            Ok(value.filter(|count| *count >= 1.0))
        })
        .await
        .unwrap_or_else(|_| panic!("{query} counted nothing"));
    }
    let database = &setup
        .variables
        .iter()
        .find(|(name, _)| *name == "CATALOG_DATABASE_URL")
        .unwrap()
        .1;
    let trace = Command::new(setup.binaries.join("catalog"))
        .args(["trace", photo])
        .env("CATALOG_DATABASE_URL", database)
        .env("AWS_ENDPOINT_URL", &setup.moto)
        .output()
        .unwrap();
    let journey = String::from_utf8_lossy(&trace.stdout);
    assert!(
        trace.status.success(),
        "{journey}{}",
        String::from_utf8_lossy(&trace.stderr)
    );
    for expected in [
        "PhotoUploadRequested",
        "render: encode",
        "on the bus",
        "read model at version",
    ] {
        assert!(journey.contains(expected), "no {expected:?} in:\n{journey}");
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        // moto runs in a session of its own (its supervisor does not): stop both.
        for file in ["moto.process", "moto.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.join("run").join(file)) {
                signal(pid.trim(), "TERM");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
