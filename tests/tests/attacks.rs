//! The API under abuse, as an attacker would try it over HTTP: hostile text, forged and odd
//! tokens, bursts, made-up methods, forged cursors, overlong ids, a body that never arrives,
//! callback URLs that aim inside. Each probe asserts the status, that the answer is
//! problem+json, and that nothing was appended to the event store.
//!
//! Beside these, other suites cover the rest of the attack surface: JWT forgeries and key
//! confusion (`sign_in.rs`), server-side request forgery at submission and call time
//! (`webhooks.rs`), another seller's photos (`write_api.rs`), hostile image files
//! (`images.rs`, and `catalog-images`' own corpus).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use catalog_tests::pipeline::Pipeline;
use catalog_tests::{WriteApi, expect_json, expect_problem, jpeg, sha256_hex};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SELLER: &str = "seller-x";

fn photo() -> Value {
    json!({"product_id": "sku-x", "filename": "x.jpg", "content_type": "image/jpeg", "size_bytes": 100})
}

fn with(field: &str, value: Value) -> Value {
    let mut body = photo();
    body[field] = value;
    body
}

/// A token signed with the API's secret, with these claims.
fn token(api: &WriteApi, claims: &Value) -> String {
    let key = EncodingKey::from_secret(api.secret().expose_secret().as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn control_characters_in_any_text_are_refused_and_append_nothing() {
    let api = WriteApi::spawn().await.unwrap();
    for body in [
        with("caption", json!("nul \u{0} inside")),
        with("caption", json!("bell \u{7}")),
        with("product_id", json!("sku\u{0}")),
        with("filename", json!("a\u{0}.jpg")),
        with("tags", json!(["red", "\u{0}"])),
        with("alt_text", json!("escape \u{1b}[31m")),
        with("callback_url", json!("https://exa\tmple.com/hook")),
    ] {
        let problem = expect_problem(
            api.create(SELLER, &body).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
        .unwrap_or_else(|error| panic!("{body}: {error}"));
        assert!(problem["errors"].is_array(), "{problem}");
    }
    // The same through the multipart upload and PATCH.
    let form = reqwest::multipart::Form::new()
        .text("product_id", "sku-x")
        .text("caption", "nul \u{0}")
        .part(
            "file",
            reqwest::multipart::Part::bytes(jpeg(8, 8)).file_name("x.jpg"),
        );
    let multipart = api
        .as_seller(Method::POST, "/v1/photos/upload", SELLER)
        .multipart(form)
        .send()
        .await
        .unwrap();
    expect_problem(multipart, StatusCode::UNPROCESSABLE_ENTITY)
        .await
        .unwrap();
    assert!(api.events().await.unwrap().is_empty());
    let created = expect_json(
        api.create(SELLER, &photo()).await.unwrap(),
        StatusCode::CREATED,
    )
    .await
    .unwrap();
    let id = created["photo_id"].as_str().unwrap();
    let patch = api
        .as_seller(Method::PATCH, &format!("/v1/photos/{id}"), SELLER)
        .json(&json!({"caption": "nul \u{0}"}))
        .send()
        .await
        .unwrap();
    expect_problem(patch, StatusCode::UNPROCESSABLE_ENTITY)
        .await
        .unwrap();
    assert_eq!(api.events().await.unwrap().len(), 1);
}

#[tokio::test]
async fn odd_tokens_are_401_and_the_claims_api_md_names_are_enough() {
    let api = WriteApi::spawn().await.unwrap();
    let send = |token: String| {
        api.http
            .post(api.url("/v1/photos"))
            .bearer_auth(token)
            .json(&photo())
            .send()
    };
    for (what, claims) in [
        (
            "a seller with a NUL",
            json!({"sub": "seller\u{0}", "exp": now() + 60}),
        ),
        ("an empty seller", json!({"sub": "", "exp": now() + 60})),
        (
            "a seller of 1000 characters",
            json!({"sub": "s".repeat(1000), "exp": now() + 60}),
        ),
        ("no expiry", json!({"sub": SELLER})),
        (
            "not valid yet",
            json!({"sub": SELLER, "exp": now() + 7200, "nbf": now() + 3600}),
        ),
        ("expired", json!({"sub": SELLER, "exp": now() - 3600})),
    ] {
        expect_problem(
            send(token(&api, &claims)).await.unwrap(),
            StatusCode::UNAUTHORIZED,
        )
        .await
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    }
    for (what, header) in [
        ("no scheme", "abc"),
        ("basic", "Basic dXNlcjpwYXNz"),
        ("garbage", "Bearer \u{1}"),
    ] {
        let answer = api
            .http
            .post(api.url("/v1/photos"))
            .header("authorization", header)
            .json(&photo())
            .send()
            .await;
        if let Ok(answer) = answer {
            expect_problem(answer, StatusCode::UNAUTHORIZED)
                .await
                .unwrap_or_else(|error| panic!("{what}: {error}"));
        }
    }
    assert!(api.events().await.unwrap().is_empty());
    // `sub` and `exp` suffice: no `iat` needed, and a past `nbf` is fine.
    let minimal = token(
        &api,
        &json!({"sub": SELLER, "exp": now() + 60, "nbf": now() - 10}),
    );
    expect_json(send(minimal).await.unwrap(), StatusCode::CREATED)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_one_seller_is_limited_while_another_is_served() {
    let api = WriteApi::spawn().await.unwrap();
    let greedy = api.token("seller-greedy");
    let answers = futures_util::future::join_all((0..300).map(|_| {
        api.http
            .get(api.url("/v1/photos/01a22256-dd3a-72c2-8529-df1737d7c671/history"))
            .bearer_auth(&greedy)
            .send()
    }))
    .await;
    let limited: Vec<_> = answers
        .into_iter()
        .map(Result::unwrap)
        .filter(|answer| answer.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(
        limited.len() >= 150,
        "only {} of 300 limited",
        limited.len()
    );
    let first = limited.into_iter().next().unwrap();
    let retry: u64 = first.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert!(first.headers().contains_key("ratelimit-policy"));
    assert!(first.headers().contains_key("ratelimit"));
    let problem = expect_problem(first, StatusCode::TOO_MANY_REQUESTS)
        .await
        .unwrap();
    assert!(problem["type"].as_str().unwrap().ends_with(":rate-limited"));
    // Another seller is served meanwhile.
    expect_json(
        api.create("seller-patient", &photo()).await.unwrap(),
        StatusCode::CREATED,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_cursors_and_overlong_ids_are_refused() {
    let pipeline = Pipeline::start().await.unwrap();
    let cursor = |parts: Value| URL_SAFE_NO_PAD.encode(parts.to_string());
    for forged in [
        cursor(json!({"gallery_key": "sku-1", "listed_key": "", "photo_id": ""})),
        cursor(json!({"gallery_key": "sku-1", "listed_key": "x#y", "photo_id": "y"})),
        cursor(json!({"gallery_key": "sku-2", "listed_key": "", "photo_id": ""})),
        "!!!".to_owned(),
    ] {
        let answer = pipeline
            .write
            .http
            .get(pipeline.read(&format!("/v1/products/sku-1/photos?cursor={forged}")))
            .send()
            .await
            .unwrap();
        expect_problem(answer, StatusCode::BAD_REQUEST)
            .await
            .unwrap_or_else(|error| panic!("{forged}: {error}"));
    }
    let long = "x".repeat(5000);
    for (url, status) in [
        (
            pipeline.read(&format!("/v1/photos/{long}")),
            StatusCode::NOT_FOUND,
        ),
        (
            pipeline.read(&format!("/v1/products/{long}/photos")),
            StatusCode::BAD_REQUEST,
        ),
        (
            pipeline.write.url(&format!("/v1/photos/{long}/history")),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let answer = pipeline
            .write
            .http
            .get(&url)
            .bearer_auth(pipeline.write.token(SELLER))
            .send()
            .await
            .unwrap();
        expect_problem(answer, status).await.unwrap();
    }
    for query in ["after=-1", "limit=0", "limit=100000", "after=x"] {
        let answer = pipeline
            .write
            .as_seller(
                Method::GET,
                &format!("/v1/photos/01a22256-dd3a-72c2-8529-df1737d7c671/history?{query}"),
                SELLER,
            )
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_client_error(),
            "{query}: {}",
            answer.status()
        );
        assert_eq!(answer.headers()["content-type"], "application/problem+json");
    }
}

#[tokio::test]
async fn a_body_that_never_arrives_is_cut_off() {
    let api = WriteApi::spawn_with(|config| config.timeouts.request_secs = 1)
        .await
        .unwrap();
    let address = api.base_url.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/photos HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"product_id\": ",
        api.token(SELLER)
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut answer))
        .await
        .expect("an answer before the client gives up")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(api.events().await.unwrap().is_empty());
}

#[tokio::test]
async fn callback_urls_aimed_inside_or_at_other_services_are_refused() {
    // The production policy: https on ports 443 and 80 only, to public addresses.
    let api = WriteApi::spawn().await.unwrap();
    api.webhook_secret(SELLER).await.unwrap();
    for url in [
        "https://example.com:22/hook",
        "https://example.com:6379/hook",
        "https://user:password@example.com/hook",
        "http://example.com/hook",
        "https://169.254.169.254/latest/meta-data/iam",
        "https://[fd00:ec2::254]/latest",
        "https://0x7f000001/hook",
        "https://2130706433/hook",
        "gopher://example.com/",
    ] {
        let problem = expect_problem(
            api.create(SELLER, &with("callback_url", json!(url)))
                .await
                .unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
        .unwrap_or_else(|error| panic!("{url}: {error}"));
        assert!(
            problem["errors"].to_string().contains("callback_url"),
            "{url}: {problem}"
        );
    }
    assert!(api.events().await.unwrap().is_empty());
}

/// Uploads whose bytes differ from their declaration are refused before anything is kept.
#[tokio::test]
async fn a_multipart_file_that_is_not_its_declared_checksum_is_refused() {
    let api = WriteApi::spawn().await.unwrap();
    let bytes = jpeg(8, 8);
    let form = reqwest::multipart::Form::new()
        .text("product_id", "sku-x")
        .text("checksum_sha256", sha256_hex(b"something else"))
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("x.jpg"),
        );
    let answer = api
        .as_seller(Method::POST, "/v1/photos/upload", SELLER)
        .multipart(form)
        .send()
        .await
        .unwrap();
    expect_problem(answer, StatusCode::UNPROCESSABLE_ENTITY)
        .await
        .unwrap();
    assert!(api.events().await.unwrap().is_empty());
}

/// One seller opens 200 slow uploads (each holding 7 MiB towards a part, then a byte a second)
/// and streams 100,000 `tags` parts, chunked, without `Content-Length`: the flood is refused
/// (`422`, at its 21st tag), all but 8 uploads are refused at the door (`429`), the 8 let in
/// are cut off by the minimum rate (`408`), another seller's uploads succeed meanwhile, and the
/// write API's peak memory stays under 256 MiB (without the caps, the uploads alone would hold
/// 1.4 GB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_seller_cannot_exhaust_the_write_api_with_slow_uploads_or_endless_fields() {
    use catalog_tests::hostile::{self, Ended};
    use catalog_tests::pipeline::{Process, Stack};

    const BOUND: u64 = 256 * 1024 * 1024;
    let stack = Stack::create().await.unwrap();
    let url = catalog_tests::fresh_database().await.unwrap();
    let secret = format!("hostile-{}", uuid::Uuid::new_v4());
    let token = |seller: &str| {
        catalog_http::auth::issue(
            Some(&secret.clone().into()),
            seller,
            SystemTime::now() + Duration::from_secs(3600),
        )
        .unwrap()
    };
    let address = format!("127.0.0.1:{}", catalog_tests::free_port().unwrap());
    let variables = [
        ("CATALOG_WRITE_ADDR", address.as_str()),
        ("CATALOG_JWT_SECRET", secret.as_str()),
        ("CATALOG_SELLER_RATE_BURST", "100000"),
        ("CATALOG_SELLER_RATE_PER_SEC", "100000"),
        ("CATALOG_UPLOAD_RATE_WINDOW_SECS", "5"),
    ];
    let api = Process::start_with(&stack, &url, &["write-api"], &variables).unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{address}");
    catalog_tests::eventually(Duration::from_secs(30), || async {
        let ready = http.get(format!("{base}/readyz")).send().await;
        Ok(ready
            .is_ok_and(|ready| ready.status().is_success())
            .then_some(()))
    })
    .await
    .unwrap();
    let report = hostile::attack(
        &address,
        &token("seller-attacker"),
        &token("seller-honest"),
        &jpeg(64, 48),
    )
    .await;
    // How many parts the client got onto the wire before it read the answer says little (the
    // rest of a refused body is read and dropped): the memory bound below is what holds.
    assert_eq!(
        report.flood.0,
        Ended::Answered(422),
        "the 21st tag is refused"
    );
    assert_eq!(
        report.honest, [201; 3],
        "the other seller's uploads succeed"
    );
    assert_eq!(report.slow.get("Answered(429)"), Some(&192), "{report:?}");
    assert_eq!(report.slow.get("Answered(408)"), Some(&8), "{report:?}");
    let peak = hostile::peak_memory(api.pid()).unwrap();
    assert!(peak < BOUND, "the write API peaked at {} MiB", peak >> 20);
    println!("write API peak resident memory: {} MiB", peak >> 20);
}

/// A script that declares photos of a competitor's product ids claims none: the competitor's
/// upload takes the product, and the squatter's photo fails with the reason once its file
/// arrives.
#[tokio::test]
async fn declaring_a_photo_does_not_squat_its_product() {
    let api = WriteApi::spawn().await.unwrap();
    let bytes = jpeg(32, 24);
    let body = json!({
        "product_id": "their-sku", "filename": "x.jpg", "content_type": "image/jpeg",
        "size_bytes": bytes.len(),
    });
    let squatted = expect_json(
        api.create("seller-squatter", &body).await.unwrap(),
        StatusCode::CREATED,
    )
    .await
    .unwrap();
    // The competitor's upload is not refused: a pending photo claims nothing.
    api.upload_file("seller-owner", "their-sku", None, bytes.clone())
        .await
        .unwrap();
    let refused = api.create("seller-squatter", &body).await.unwrap();
    let problem = expect_problem(refused, StatusCode::CONFLICT).await.unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with(":product-owned"),
        "{problem}"
    );
    // The squatter's file arrives after all: the photo fails, saying why.
    api.put_presigned(&squatted, bytes).await.unwrap();
    let id = squatted["photo_id"].as_str().unwrap();
    let completed = api
        .as_seller(
            Method::POST,
            &format!("/v1/photos/{id}/upload-complete"),
            "seller-squatter",
        )
        .send()
        .await
        .unwrap();
    let completed = expect_json(completed, StatusCode::ACCEPTED).await.unwrap();
    assert_eq!(completed["status"], "failed", "{completed}");
    let history = api
        .as_seller(
            Method::GET,
            &format!("/v1/photos/{id}/history"),
            "seller-squatter",
        )
        .send()
        .await
        .unwrap();
    let history = expect_json(history, StatusCode::OK).await.unwrap();
    let reason = history["events"][1]["payload"]["reason"].as_str().unwrap();
    assert!(reason.contains("claimed by another seller"), "{history}");
}

/// Invisible and direction-changing characters are refused in every text field (here a
/// right-to-left override that would show `gpj.exe` as `exe.jpg`), and text is stored NFC.
#[tokio::test]
async fn invisible_characters_are_refused_and_text_is_stored_composed() {
    let api = WriteApi::spawn().await.unwrap();
    for (field, value) in [
        ("filename", json!("invoice\u{202E}gpj.exe")),
        ("product_id", json!("sku\u{200B}1")),
        ("caption", json!("line\u{2028}break")),
        ("alt_text", json!("\u{2066}isolated\u{2069}")),
        ("tags", json!(["zero\u{200D}width"])),
    ] {
        let answer = api.create(SELLER, &with(field, value)).await.unwrap();
        let problem = expect_problem(answer, StatusCode::UNPROCESSABLE_ENTITY)
            .await
            .unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    assert!(api.events().await.unwrap().is_empty());
    let created = api
        .create(SELLER, &with("caption", json!("cafe\u{301}")))
        .await
        .unwrap();
    let created = expect_json(created, StatusCode::CREATED).await.unwrap();
    let photo = api
        .as_seller(
            Method::GET,
            &format!("/v1/photos/{}", created["photo_id"].as_str().unwrap()),
            SELLER,
        )
        .send()
        .await
        .unwrap();
    let stored = expect_json(photo, StatusCode::OK).await.unwrap();
    assert_eq!(stored["caption"], "caf\u{e9}");
}

/// A seller cannot render its photos again and again: reprocessing has its own limit.
#[tokio::test]
async fn reprocessing_is_limited_per_seller() {
    let api = WriteApi::spawn_with(|config| {
        config.limits.reprocess_burst = 3;
        config.limits.reprocess_per_hour = 1;
    })
    .await
    .unwrap();
    let path = format!("/v1/photos/{}/reprocess", uuid::Uuid::now_v7());
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let answer = api
            .as_seller(Method::POST, &path, SELLER)
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    // The first three are decided (no such photo), the rest refused before any work.
    assert_eq!(statuses, [404, 404, 404, 429, 429]);
    // Another seller has its own.
    let other = api
        .as_seller(Method::POST, &path, "seller-other")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

/// The read API's limits hold: a made-up `Authorization` is no token (public paths answer as
/// to anyone, and the address's limit applies), a valid token counts against its seller, reads
/// that wait are limited lower, and a photo the caller may not see is `404` at once even with
/// `min_version`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_limits_hold_whatever_authorization_says() {
    use catalog_http::rate_limit::RateLimitConfig;
    use catalog_tests::pipeline::{Stack, notifier_config, processor_config};

    let limits = RateLimitConfig {
        address_burst: 5,
        address_per_sec: 1,
        reader_burst: 8,
        reader_per_sec: 1,
        wait_burst: 2,
        wait_per_sec: 1,
        seller_burst: 1000,
        seller_per_sec: 1000,
        ..RateLimitConfig::default()
    };
    let stack = Stack::create().await.unwrap();
    let pipeline = Pipeline::start_tuned(stack, notifier_config(), processor_config(), limits)
        .await
        .unwrap();
    let http = &pipeline.write.http;
    let gallery = pipeline.read("/v1/products/sku-none/photos");
    let mut statuses = Vec::new();
    for n in 0..8 {
        let made_up = if n % 2 == 0 {
            format!("x{n}")
        } else {
            format!("Bearer junk{n}")
        };
        let answer = http
            .get(&gallery)
            .header("authorization", made_up)
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(
        statuses[..5],
        [200; 5],
        "a public path ignores a token that does not verify"
    );
    assert!(
        statuses[5..].iter().all(|status| *status == 429),
        "{statuses:?}"
    );

    // A valid token is its seller's limit, not the spent address's; and the owner waits for
    // its new photo.
    let owner = pipeline.write.token("seller-owner");
    let created = expect_json(
        pipeline
            .write
            .create("seller-owner", &photo())
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await
    .unwrap();
    let id = created["photo_id"].as_str().unwrap();
    let own = http
        .get(pipeline.read(&format!("/v1/photos/{id}?min_version=1")))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    // As the CDN forwards the token on the paths it caches.
    let forwarded = http
        .get(pipeline.read(&format!("/v1/photos/{id}")))
        .header("x-catalog-authorization", format!("Bearer {owner}"))
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status(), StatusCode::OK);

    // Another seller asking for it at its version is told at once that there is no such
    // photo; asking for a version it never reaches, told the same (not "not yet", which would
    // say that it exists).
    let other = pipeline.write.token("seller-other");
    let ask = |min_version: u64| {
        http.get(pipeline.read(&format!("/v1/photos/{id}?min_version={min_version}")))
            .bearer_auth(&other)
            .send()
    };
    let started = std::time::Instant::now();
    let hidden = ask(1).await.unwrap();
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    // At once: well inside the 3 s a wait would take.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ask(1000).await.unwrap().status(), StatusCode::NOT_FOUND);

    // Waits: two at once, the third refused before it waits.
    let waiter = pipeline.write.token("seller-waiter");
    let unknown = pipeline.read(&format!(
        "/v1/photos/{}?min_version=1",
        uuid::Uuid::now_v7()
    ));
    let waits = futures_util::future::join_all(
        (0..3).map(|_| http.get(&unknown).bearer_auth(&waiter).send()),
    )
    .await;
    let mut waits: Vec<u16> = waits
        .into_iter()
        .map(|answer| answer.unwrap().status().as_u16())
        .collect();
    waits.sort_unstable();
    assert_eq!(waits, [429, 503, 503]);
}
