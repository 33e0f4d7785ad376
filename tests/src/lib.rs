//! The harness of the end-to-end tests and benchmarks: a fresh database per test, the real
//! write API spawned on a free port against the local stack (`./dev test` sets it up), and a
//! typed client for its calls.
//!
//! Nothing here fakes a dependency: Postgres is the real server, S3 is moto's, reached with
//! the real SDK. [`pipeline`] adds the rest of the service: the read API, relay and projector
//! on AWS resources of the test's own; [`postgres`] a PostgreSQL cluster a test may crash;
//! [`soak`] all of it under SIGKILLs and database crashes; [`otlp`] a stand-in for the
//! OpenTelemetry collector that the parts export their traces to; [`latency`] a proxy that
//! gives the local stack's calls the time AWS's take.

pub mod hostile;
pub mod latency;
pub mod otlp;
pub mod pipeline;
pub mod postgres;
pub mod receiver;
pub mod soak;

use std::time::{Duration, SystemTime};

use anyhow::Context;
use catalog_callback_guard::CallbackPolicy;
use catalog_event_store::database::DatabaseConfig;
use catalog_event_store::webhook_secrets::WebhookKeyConfig;
use catalog_events::UploadRequested;
use catalog_events::resources::Resources;
use catalog_http::auth;
use catalog_http::auth::AuthConfig;
use catalog_http::cors::CorsConfig;
use catalog_http::ops::Timeouts;
use catalog_http::rate_limit::RateLimitConfig;
use catalog_runtime::aws::S3Settings;
use catalog_runtime::settings::{UploadLimit, VariantsUrl};
use catalog_write_side::api::upload::UploadAdmission;
use catalog_write_side::config::WriteApiConfig;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use secrecy::SecretString;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

/// The origin of the seller page in tests: both APIs answer CORS for it.
pub const PAGE_ORIGIN: &str = "http://page.test";

/// CORS for [`PAGE_ORIGIN`], and for the local stack's S3 endpoint, where the browser tests
/// serve the page from.
pub fn page_cors() -> CorsConfig {
    let mut cors_origins = vec![PAGE_ORIGIN.to_owned()];
    cors_origins.extend(std::env::var("AWS_ENDPOINT_URL").ok());
    CorsConfig { cors_origins }
}

/// The key the tests' write APIs and notifiers seal webhook secrets with.
pub fn webhook_key() -> WebhookKeyConfig {
    WebhookKeyConfig {
        key: Some(SecretString::from(
            "a test key for the sellers' webhook secrets",
        )),
        key_secret: None,
    }
}

/// A fresh prefix for the AWS resources of one test, so that tests never share a bucket,
/// queue or table.
pub fn resource_prefix() -> String {
    format!("t{}-", &Uuid::new_v4().simple().to_string()[..10])
}

/// A variable the local stack sets; its absence means the tests were not started by `./dev`.
pub fn stack_env(name: &str) -> anyhow::Result<String> {
    std::env::var(name)
        .with_context(|| format!("{name} is not set: run the tests with `./dev test`"))
}

/// Creates an empty database of its own for one test and returns its URL.
pub async fn fresh_database() -> anyhow::Result<String> {
    let admin = stack_env("CATALOG_TEST_DATABASE_URL")?;
    let name = format!("catalog_test_{}", Uuid::new_v4().simple());
    let mut connection = PgConnection::connect(&admin).await?;
    connection
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    let mut url = url::Url::parse(&admin)?;
    url.set_path(&name);
    Ok(url.into())
}

/// The request of a new photo of `seller` for `product`, as the write API would build it
/// (100 bytes declared, no caption, tags or checksum).
pub fn upload_request(photo_id: Uuid, seller: &str, product: &str) -> UploadRequested {
    UploadRequested {
        occurred_at: chrono::Utc::now(),
        photo_id,
        seller_id: seller.into(),
        product_id: product.into(),
        filename: "p.jpg".into(),
        content_type: "image/jpeg".into(),
        size_bytes: 100,
        checksum_sha256: None,
        caption: None,
        alt_text: None,
        tags: vec![],
        callback_url: None,
        object_key: format!("originals/{photo_id}"),
    }
}

/// A JPEG of the given size, made here: smooth waves of colour, which compress as a photo
/// does, so that its WebP and AVIF are lighter than its JPEG at the same look and all are
/// offered.
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    encode_jpeg(&image::RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let r = 128.0 + 90.0 * (fx * 9.0).sin() * (fy * 7.0).cos();
        let g = 128.0 + 80.0 * (fx * 5.0 + fy * 11.0).sin();
        let b = 110.0 + 70.0 * ((fx - 0.5).hypot(fy - 0.5) * 25.0).cos();
        image::Rgb([r as u8, g as u8, b as u8])
    }))
}

/// A JPEG of uniform colour noise: detail at every scale, which WebP and AVIF cannot keep at
/// the JPEG's look in fewer bytes, so that the service offers neither for its large variant.
pub fn noise_jpeg(width: u32, height: u32) -> Vec<u8> {
    encode_jpeg(&image::RgbImage::from_fn(width, height, |x, y| {
        let hash =
            (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).wrapping_mul(2_246_822_519);
        image::Rgb([(hash >> 8) as u8, (hash >> 16) as u8, (hash >> 24) as u8])
    }))
}

fn encode_jpeg(image: &image::RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .encode_image(image)
        .map(|()| bytes)
        .unwrap_or_default()
}

/// Whether each format a variant of a read photo lists follows the service's rule: lighter
/// than the variant's JPEG or PNG, a WebP at most 0.8 of it.
pub fn formats_are_lighter(photo: &Value) -> bool {
    photo["variants"]
        .as_object()
        .into_iter()
        .flat_map(|variants| variants.values())
        .all(|variant| {
            let primary = variant["bytes"].as_f64().unwrap_or(0.0);
            variant["formats"]
                .as_object()
                .into_iter()
                .flatten()
                .all(|(format, file)| {
                    let bytes = file["bytes"].as_f64().unwrap_or(f64::INFINITY);
                    let most = if format == "image/webp" { 0.8 } else { 1.0 };
                    bytes < primary && bytes <= most * primary
                })
        })
}

/// The photo ids of a page of a listing (`{"items": [photo...]}`), in its order.
pub fn page_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["photo_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A free port on the loopback interface.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The write API, running in this process on a free port, with a database of its own.
pub struct WriteApi {
    pub base_url: String,
    pub http: Client,
    /// The same database the API writes, for assertions on the event store.
    pub pool: PgPool,
    pub database_url: String,
    /// The bucket of its originals.
    pub originals: String,
    secret: SecretString,
}

impl WriteApi {
    pub async fn spawn() -> anyhow::Result<Self> {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns it, with buckets of its own, after `adjust` changed the default test settings.
    pub async fn spawn_with(adjust: impl FnOnce(&mut WriteApiConfig)) -> anyhow::Result<Self> {
        Self::spawn_on_database(fresh_database().await?, adjust).await
    }

    /// Spawns it on the buckets of `resources`, which exist.
    pub async fn spawn_on(
        resources: &Resources,
        adjust: impl FnOnce(&mut WriteApiConfig),
    ) -> anyhow::Result<Self> {
        Self::spawn_at(resources, fresh_database().await?, adjust).await
    }

    /// Spawns it with buckets of its own on the database at `database_url` (a server of the
    /// test's own, or a database prepared beforehand), which it migrates.
    pub async fn spawn_on_database(
        database_url: String,
        adjust: impl FnOnce(&mut WriteApiConfig),
    ) -> anyhow::Result<Self> {
        stack_env("AWS_ENDPOINT_URL")?;
        // Buckets of its own, so that no test depends on what `./dev up` bootstrapped.
        let resources = Resources::standard()?.prefixed(&resource_prefix());
        catalog_local_stack::buckets(&catalog_runtime::aws::sdk().await, &resources).await?;
        Self::spawn_at(&resources, database_url, adjust).await
    }

    /// Spawns it on the buckets of `resources` and the database at `database_url`.
    pub async fn spawn_at(
        resources: &Resources,
        database_url: String,
        adjust: impl FnOnce(&mut WriteApiConfig),
    ) -> anyhow::Result<Self> {
        let secret = SecretString::from(format!("test-secret-{}", Uuid::new_v4()));
        let mut config = WriteApiConfig {
            listen: "127.0.0.1:0".into(),
            database: DatabaseConfig {
                url: Some(database_url.clone()),
                secret: None,
                secret_refresh_secs: 60,
                max_connections: 8,
                data_key: Default::default(),
            },
            auth: AuthConfig {
                jwt_secret: Some(secret.clone()),
                ..AuthConfig::default()
            },
            cors: page_cors(),
            limits: RateLimitConfig::default(),
            timeouts: Timeouts::default(),
            server: Default::default(),
            s3: S3Settings { path_style: true },
            upload_limit: UploadLimit {
                max_upload_bytes: 25 * 1024 * 1024,
            },
            uploads: UploadAdmission::default(),
            presign_ttl_secs: 900,
            callbacks: CallbackPolicy::default(),
            webhook_key: webhook_key(),
            variants: VariantsUrl {
                variants_base_url: "https://cdn.example/v".into(),
            },
        };
        adjust(&mut config);
        let app = catalog_write_side::startup::build(config, resources).await?;
        let base_url = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(&database_url)
            .await?;
        Ok(Self {
            base_url,
            http: Client::builder().timeout(Duration::from_secs(30)).build()?,
            pool,
            database_url,
            originals: resources.buckets.originals.clone(),
            secret,
        })
    }

    /// The tags of an original, as `(key, value)` pairs.
    pub async fn original_tags(&self, key: &str) -> anyhow::Result<Vec<(String, String)>> {
        let sdk = aws_config::load_from_env().await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        let tags = s3
            .get_object_tagging()
            .bucket(&self.originals)
            .key(key)
            .send()
            .await?;
        Ok(tags
            .tag_set()
            .iter()
            .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
            .collect())
    }

    /// The secret its tokens are signed with.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// A valid token for `seller`.
    pub fn token(&self, seller: &str) -> String {
        self.token_expiring(seller, SystemTime::now() + Duration::from_secs(3600))
    }

    pub fn token_expiring(&self, seller: &str, at: SystemTime) -> String {
        auth::issue(Some(&self.secret), seller, at).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A request as `seller`.
    pub fn as_seller(&self, method: reqwest::Method, path: &str, seller: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(self.token(seller))
    }

    /// `POST /v1/photos` with `body` as `seller`.
    pub async fn create(&self, seller: &str, body: &Value) -> anyhow::Result<Response> {
        Ok(self
            .as_seller(reqwest::Method::POST, "/v1/photos", seller)
            .json(body)
            .send()
            .await?)
    }

    /// PUTs `bytes` to the presigned upload of a create answer, with its headers as given.
    pub async fn put_presigned(&self, created: &Value, bytes: Vec<u8>) -> anyhow::Result<Response> {
        let upload = &created["upload"];
        anyhow::ensure!(upload["method"] == "PUT", "not a PUT upload: {upload}");
        let url = upload["url"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no upload URL in {created}"))?;
        let mut request = self.http.put(url).body(bytes);
        for (name, value) in upload["headers"].as_object().into_iter().flatten() {
            request = request.header(name, value.as_str().unwrap_or_default());
        }
        Ok(request.send().await?)
    }

    /// Uploads `bytes` through the multipart API as `seller`, with `callback_url` if given;
    /// returns the photo's id.
    pub async fn upload_file(
        &self,
        seller: &str,
        product: &str,
        callback_url: Option<&str>,
        bytes: Vec<u8>,
    ) -> anyhow::Result<Uuid> {
        let mut form = reqwest::multipart::Form::new()
            .text("product_id", product.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name("p"),
            );
        if let Some(url) = callback_url {
            form = form.text("callback_url", url.to_owned());
        }
        let response = self
            .as_seller(reqwest::Method::POST, "/v1/photos/upload", seller)
            .multipart(form)
            .send()
            .await?;
        let created = expect_json(response, StatusCode::CREATED).await?;
        Ok(created["photo_id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no photo_id in {created}"))?
            .parse()?)
    }

    /// A new webhook signing secret for `seller` (`POST /v1/webhook-secret`).
    pub async fn webhook_secret(&self, seller: &str) -> anyhow::Result<String> {
        let response = self
            .as_seller(reqwest::Method::POST, "/v1/webhook-secret", seller)
            .send()
            .await?;
        let answer = expect_json(response, StatusCode::CREATED).await?;
        answer["secret"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no secret in {answer}"))
    }

    /// Every event in the store, as (photo id, sequence, event type), in insertion order.
    pub async fn events(&self) -> anyhow::Result<Vec<(String, i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT aggregate_id, sequence, event_type FROM events ORDER BY position",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Reads a JSON answer, failing with the body when the status is not `expected`.
pub async fn expect_json(response: Response, expected: StatusCode) -> anyhow::Result<Value> {
    let status = response.status();
    let body = response.text().await?;
    anyhow::ensure!(
        status == expected,
        "expected {expected}, got {status}: {body}"
    );
    Ok(serde_json::from_str(&body)?)
}

/// Reads a problem+json answer, checking its status and shape.
pub async fn expect_problem(response: Response, expected: StatusCode) -> anyhow::Result<Value> {
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let problem = expect_json(response, expected).await?;
    anyhow::ensure!(
        content_type == "application/problem+json",
        "content type {content_type:?}"
    );
    for field in ["type", "title", "status", "detail"] {
        anyhow::ensure!(problem.get(field).is_some(), "no {field} in {problem}");
    }
    anyhow::ensure!(
        problem["status"] == expected.as_u16(),
        "status field in {problem}"
    );
    Ok(problem)
}

/// Waits until `check` gives a value, polling with a growing pause, for at most `within`.
pub async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut pause = Duration::from_millis(20);
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {within:?}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}
