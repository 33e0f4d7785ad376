//! The soak: photos through the whole pipeline while its workers are SIGKILLed at random and
//! PostgreSQL crashes and restarts, then the count of what was lost, stuck or divergent (all
//! must be 0). `./dev soak` runs it long; `./dev test` runs a short one.
//!
//! Every part is a `catalog` process, as in production, on a stack and a PostgreSQL cluster of
//! the soak's own. The uploader is a well-behaved client: each photo under its own
//! `Idempotency-Key`, retried on `503`, `409` or a dropped connection until it is accepted;
//! every fourth photo asks for a webhook. A chaos task kills the relay, the projector, the
//! image processor or the notifier at random moments (each comes back, as ECS would restart it)
//! and crashes PostgreSQL at set points of the upload.
//!
//! At the end: every accepted photo must be in the event store (else lost) and `ready` (else
//! stuck), every webhook asked for delivered, the read model must hold the event store's last
//! version of each (else divergent), and a resync dry run must find nothing to change.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use catalog_event_store::aggregate::PhotoServices;
use catalog_event_store::store::{self, PhotoStore};
use catalog_events::PhotoStatus;
use catalog_projections::resync::resync;
use futures_util::StreamExt;
use reqwest::StatusCode;
use sqlx::Connection;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::pipeline::{Process, Stack};
use crate::postgres::PrivatePostgres;
use crate::receiver::{Answers, Receiver};
use crate::{eventually, jpeg};

const SELLER: &str = "soak-seller";
/// The workers the chaos kills.
const WORKERS: [&str; 4] = ["relay", "project", "process-images", "notify"];

/// How hard to push.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    pub photos: usize,
    /// Uploads under way at once.
    pub concurrency: usize,
    /// The mean pause between two kills.
    pub kill_every: Duration,
    /// PostgreSQL crashes, spread evenly over the upload.
    pub database_restarts: usize,
    /// How long everything may take to settle after the last upload.
    pub settle_within: Duration,
}

/// What the soak did and found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SoakReport {
    pub photos: usize,
    pub kills: usize,
    pub database_restarts: usize,
    /// Photos the chaos failed (their job killed on every receive) that were reprocessed, as
    /// their sellers would.
    pub reprocessed: usize,
    /// Accepted photos the event store does not have.
    pub lost: usize,
    /// Photos not `ready` (or webhooks not delivered) when the time to settle ran out.
    pub stuck: usize,
    /// Photos whose read-model item is not at the event store's last version.
    pub divergent: usize,
    /// What a resync dry run would change.
    pub resync_changes: u64,
    pub upload_secs: f64,
    pub total_secs: f64,
}

impl SoakReport {
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.stuck == 0 && self.divergent == 0 && self.resync_changes == 0
    }
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "photos {}, kills {}, PostgreSQL restarts {}, reprocessed {}: lost {}, stuck {}, \
             divergent {}, resync changes {}; uploads took {:.1} s, all settled after {:.1} s",
            self.photos,
            self.kills,
            self.database_restarts,
            self.reprocessed,
            self.lost,
            self.stuck,
            self.divergent,
            self.resync_changes,
            self.upload_secs,
            self.total_secs
        )
    }
}

/// The `catalog` processes, started again when they die.
struct Parts {
    stack: Stack,
    database_url: String,
    write_addr: String,
    jwt_secret: String,
    running: Mutex<HashMap<&'static str, Process>>,
}

impl Parts {
    fn start(&self, part: &'static str) -> anyhow::Result<Process> {
        let variables = [
            ("CATALOG_WRITE_ADDR", self.write_addr.as_str()),
            ("CATALOG_JWT_SECRET", self.jwt_secret.as_str()),
            ("CATALOG_SELLER_RATE_BURST", "1000000"),
            ("CATALOG_SELLER_RATE_PER_SEC", "1000000"),
        ];
        Process::start_with(&self.stack, &self.database_url, &[part], &variables)
    }

    async fn start_all(&self) -> anyhow::Result<()> {
        let mut running = self.running.lock().await;
        for part in ["write-api"].into_iter().chain(WORKERS) {
            running.insert(part, self.start(part)?);
        }
        Ok(())
    }

    /// SIGKILLs `part`; it is started again after a moment.
    async fn kill(&self, part: &'static str) -> anyhow::Result<()> {
        let process = self.running.lock().await.remove(part);
        if let Some(process) = process {
            process.kill()?;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.running.lock().await.insert(part, self.start(part)?);
        Ok(())
    }

    /// Starts again any part that ended on its own.
    async fn revive(&self) -> anyhow::Result<()> {
        let mut running = self.running.lock().await;
        let mut ended = Vec::new();
        for (part, process) in running.iter_mut() {
            if process.ended() {
                ended.push(*part);
            }
        }
        for part in ended {
            tracing_line(&format!("{part} ended on its own; starting it again"));
            running.insert(part, self.start(part)?);
        }
        Ok(())
    }
}

fn tracing_line(line: &str) {
    eprintln!("soak: {line}");
}

/// Runs the soak.
pub async fn run(config: &SoakConfig) -> anyhow::Result<SoakReport> {
    let started = Instant::now();
    // Messages a killed worker held come back soon.
    let stack = Stack::create_with(|resources| {
        for queue in &mut resources.queues {
            queue.visibility_timeout_secs = queue.visibility_timeout_secs.min(10);
        }
    })
    .await?;
    let postgres = PrivatePostgres::start()?;
    let mut admin = sqlx::PgConnection::connect(&postgres.url("postgres")).await?;
    sqlx::query("CREATE DATABASE catalog")
        .execute(&mut admin)
        .await?;
    let database_url = postgres.url("catalog");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let parts = Arc::new(Parts {
        stack,
        database_url: database_url.clone(),
        write_addr: format!("127.0.0.1:{port}"),
        jwt_secret: format!("soak-{}", Uuid::new_v4()),
        running: Mutex::new(HashMap::new()),
    });
    parts.start_all().await?;
    let client = Client::new(&parts)?;
    client.ready().await?;
    let receiver = Receiver::start(Answers::Script(vec![])).await?;
    client.webhook_secret().await?;

    // Uploads, with the chaos beside them.
    let uploaded = Arc::new(AtomicUsize::new(0));
    let chaos = tokio::spawn(chaos(
        Arc::clone(&parts),
        Arc::clone(&uploaded),
        config.clone(),
        postgres,
    ));
    // Each of `concurrency` sellers' clients uploads a photo and waits until it is ready
    // before the next, as a steady flow does: the chaos runs through the whole flow, and the
    // queues hold what a real backlog would, not a thousand photos at once.
    let store = PhotoStore::new(
        store::connect(&database_url, 4).await?,
        PhotoServices::default(),
    );
    let photos: Vec<(Uuid, bool)> = futures_util::stream::iter(0..config.photos)
        .map(|n| {
            let (client, uploaded, callback, store) = (&client, &uploaded, &receiver.url, &store);
            async move {
                let callback = (n % 4 == 0).then_some(callback.as_str());
                let photo = client.upload(n, callback).await;
                if let Ok(photo) = &photo {
                    client.until_ready(store, *photo).await;
                }
                uploaded.fetch_add(1, Ordering::Relaxed);
                photo.map(|photo| (photo, callback.is_some()))
            }
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let upload_secs = started.elapsed().as_secs_f64();
    let (kills, database_restarts, postgres) = chaos.await??;
    parts.revive().await?;

    // Everything settles, or what has not is counted. A photo the chaos failed (its job killed
    // on every receive) is reprocessed, as its seller would.
    let deadline = Instant::now() + config.settle_within;
    loop {
        parts.revive().await?;
        let (unsettled, failed) = unsettled(&store, &parts.stack, &photos).await?;
        for photo in &failed {
            client.reprocess(*photo).await?;
        }
        if unsettled.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            tracing_line(&format!(
                "{} photos did not settle in time",
                unsettled.len()
            ));
            break;
        }
        // Not more often: each look reads every photo, and the table once all are ready.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let mut report = SoakReport {
        photos: photos.len(),
        kills,
        database_restarts,
        reprocessed: client.reprocessed.load(Ordering::Relaxed),
        upload_secs,
        ..SoakReport::default()
    };
    let items: HashMap<String, u64> = parts.stack.versions().await?.into_iter().collect();
    for (photo, callback) in &photos {
        match store.load(*photo).await? {
            None => report.lost += 1,
            Some(state) => {
                let notified = !callback || state.notified_through > 0;
                if state.status != PhotoStatus::Ready || !notified {
                    report.stuck += 1;
                }
                if items.get(&photo.to_string()) != Some(&state.version) {
                    report.divergent += 1;
                }
            }
        }
    }
    let dry_run = resync(
        store.pool(),
        &parts.stack.dynamodb,
        &parts.stack.resources.table.name,
        true,
    )
    .await?;
    report.resync_changes = dry_run.created + dry_run.updated + dry_run.deleted + dry_run.skipped;
    report.total_secs = started.elapsed().as_secs_f64();
    drop(postgres);
    Ok(report)
}

/// The photos not yet settled (not ready, a webhook not yet delivered, or a read-model item
/// behind the event store), and those of them failed by the chaos, to reprocess. The table is
/// read only once the event store has every photo ready.
async fn unsettled(
    store: &PhotoStore,
    stack: &Stack,
    photos: &[(Uuid, bool)],
) -> anyhow::Result<(Vec<Uuid>, Vec<Uuid>)> {
    let (mut unsettled, mut failed) = (Vec::new(), Vec::new());
    let mut versions = Vec::with_capacity(photos.len());
    for (photo, callback) in photos {
        let Ok(Some(state)) = store.load(*photo).await else {
            unsettled.push(*photo);
            continue;
        };
        if state.status == PhotoStatus::Failed {
            failed.push(*photo);
        }
        // Its one announced change (ready) is delivered.
        let notified = !callback || state.notified_through > 0;
        if state.status != PhotoStatus::Ready || !notified {
            unsettled.push(*photo);
        }
        versions.push((*photo, state.version));
    }
    if unsettled.is_empty() {
        let items: HashMap<String, u64> = stack.versions().await?.into_iter().collect();
        unsettled = versions
            .into_iter()
            .filter(|(photo, version)| items.get(&photo.to_string()) != Some(version))
            .map(|(photo, _)| photo)
            .collect();
    }
    Ok((unsettled, failed))
}

/// Kills workers at random moments until the upload is done, and crashes PostgreSQL at even
/// points of it; returns the kills, the restarts, and the cluster (to keep it alive).
async fn chaos(
    parts: Arc<Parts>,
    uploaded: Arc<AtomicUsize>,
    config: SoakConfig,
    postgres: PrivatePostgres,
) -> anyhow::Result<(usize, usize, PrivatePostgres)> {
    let (mut kills, mut restarts) = (0, 0);
    let restart_at: Vec<usize> = (1..=config.database_restarts)
        .map(|n| n * config.photos / (config.database_restarts + 1))
        .collect();
    while uploaded.load(Ordering::Relaxed) < config.photos {
        let pause = config.kill_every.mul_f64(0.5 + random_fraction());
        tokio::time::sleep(pause).await;
        parts.revive().await?;
        if restarts < restart_at.len() && uploaded.load(Ordering::Relaxed) >= restart_at[restarts] {
            tracing_line("crashing PostgreSQL");
            postgres.crash_and_restart()?;
            restarts += 1;
            continue;
        }
        let victim = WORKERS[(random_fraction() * WORKERS.len() as f64) as usize % WORKERS.len()];
        parts.kill(victim).await?;
        kills += 1;
    }
    // A soak that ended before its first kill still kills once.
    if kills == 0 {
        parts.kill(WORKERS[0]).await?;
        kills += 1;
    }
    // A restart the upload outran still happens.
    while restarts < config.database_restarts {
        postgres.crash_and_restart()?;
        restarts += 1;
    }
    Ok((kills, restarts, postgres))
}

/// A number in [0, 1), from a fresh UUID's random bits.
fn random_fraction() -> f64 {
    f64::from(Uuid::new_v4().as_u128() as u32) / (f64::from(u32::MAX) + 1.0)
}

/// The seller's client of the write API: it retries as the contract allows.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Reprocesses asked for.
    reprocessed: AtomicUsize,
}

impl Client {
    fn new(parts: &Parts) -> anyhow::Result<Self> {
        let token = catalog_http::auth::issue(
            Some(&parts.jwt_secret.clone().into()),
            SELLER,
            SystemTime::now() + Duration::from_secs(6 * 3600),
        )?;
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            base: format!("http://{}", parts.write_addr),
            token,
            reprocessed: AtomicUsize::new(0),
        })
    }

    async fn ready(&self) -> anyhow::Result<()> {
        eventually(Duration::from_secs(60), || async {
            let ready = self.http.get(format!("{}/readyz", self.base)).send().await;
            Ok(ready
                .is_ok_and(|ready| ready.status().is_success())
                .then_some(()))
        })
        .await
    }

    async fn webhook_secret(&self) -> anyhow::Result<()> {
        let response = self
            .http
            .post(format!("{}/v1/webhook-secret", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == StatusCode::CREATED,
            "{}",
            response.status()
        );
        Ok(())
    }

    /// Waits (at most two minutes) until the photo is ready, reprocessing it if the chaos failed
    /// it, as its seller would; what is still not ready then is counted at the end.
    async fn until_ready(&self, store: &PhotoStore, photo: Uuid) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            // `None` while the database restarts.
            let status = store
                .load(photo)
                .await
                .ok()
                .flatten()
                .map(|state| state.status);
            if status == Some(PhotoStatus::Ready)
                || (status == Some(PhotoStatus::Failed) && self.reprocess(photo).await.is_err())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Asks for a failed photo to be processed again, until the API accepts.
    async fn reprocess(&self, photo: Uuid) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let sent = self
                .http
                .post(format!("{}/v1/photos/{photo}/reprocess", self.base))
                .bearer_auth(&self.token)
                .send()
                .await;
            match sent.map(|response| response.status()) {
                Ok(StatusCode::ACCEPTED) => {
                    self.reprocessed.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                // No longer failed: an earlier try went through and its answer was lost.
                Ok(StatusCode::CONFLICT) => return Ok(()),
                _ => {}
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "photo {photo} was never reprocessed"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Uploads photo `n` until the API accepts it; its id.
    async fn upload(&self, n: usize, callback: Option<&str>) -> anyhow::Result<Uuid> {
        let bytes = jpeg(96 + (n % 7) as u32 * 16, 64 + (n % 5) as u32 * 16);
        let key = format!("soak-{n}");
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let mut form = reqwest::multipart::Form::new()
                .text("product_id", format!("sku-{}", n % 50))
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(bytes.clone()).file_name("p.jpg"),
                );
            if let Some(url) = callback {
                form = form.text("callback_url", url.to_owned());
            }
            let sent = self
                .http
                .post(format!("{}/v1/photos/upload", self.base))
                .bearer_auth(&self.token)
                .header("idempotency-key", &key)
                .multipart(form)
                .send()
                .await;
            match sent {
                Ok(response) if response.status() == StatusCode::CREATED => {
                    let body: serde_json::Value = response.json().await?;
                    return Ok(body["photo_id"]
                        .as_str()
                        .ok_or_else(|| anyhow::anyhow!("no photo_id in {body}"))?
                        .parse()?);
                }
                Ok(response)
                    if !matches!(
                        response.status(),
                        StatusCode::SERVICE_UNAVAILABLE
                            | StatusCode::CONFLICT
                            | StatusCode::INTERNAL_SERVER_ERROR
                    ) =>
                {
                    anyhow::bail!(
                        "photo {n} refused: {} {}",
                        response.status(),
                        response.text().await.unwrap_or_default()
                    );
                }
                // 503 (the database is restarting), 409 (a run of this key under way), 500,
                // or no answer: the same request again shortly.
                _ => {}
            }
            anyhow::ensure!(Instant::now() < deadline, "photo {n} was never accepted");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
