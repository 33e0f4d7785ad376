//! The seller page in a real browser: Debian's Chromium, headless, driven through WebDriver
//! (`chromedriver`), against the whole pipeline on the local stack. The page is served from
//! the local stack's S3, as CloudFront serves it from S3 in AWS, and calls both APIs across
//! origins (CORS). A screenshot of the page is kept in `target/browser/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use catalog_events::PhotoStatus;
use catalog_tests::pipeline::Pipeline;
use catalog_tests::{eventually, jpeg};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use uuid::Uuid;

const SELLER: &str = "seller-browser";
/// How long a photo may take from the page's upload to the page showing it settled.
const SETTLE: Duration = Duration::from_secs(90);

/// A chromedriver of its own on a free port, stopped when dropped.
struct Driver {
    process: Child,
    url: String,
}

impl Driver {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (./dev test installs Debian's chromium-driver)");
        Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A headless Chromium session, once the driver answers.
    async fn browser(&self, profile: &Path) -> Client {
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-quic",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let status = format!("{}/status", self.url);
        eventually(Duration::from_secs(20), || async {
            Ok(reqwest::get(&status).await.is_ok().then_some(()))
        })
        .await
        .expect("chromedriver answers");
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a headless Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Where the test's files and the screenshot go.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser");
    std::fs::create_dir_all(&dir).unwrap();
    // Chromium cannot start on a profile path with `..` in it.
    dir.canonicalize().unwrap()
}

/// The photo elements of the page that show `status`.
async fn photos_in(browser: &Client, status: &str) -> Vec<String> {
    let found = browser
        .find_all(Locator::Css(&format!(
            "[data-photo-id][data-status=\"{status}\"]"
        )))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for element in found {
        if let Some(id) = element.attr("data-photo-id").await.unwrap() {
            ids.push(id);
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_uploads_edits_and_deletes_photos_through_the_page() {
    let pipeline = Pipeline::start().await.unwrap();
    let page = catalog_local_stack::publish_page(
        &pipeline.stack.sdk,
        &pipeline.stack.resources,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../seller-page"),
        &json!({
            "write_api": pipeline.write.base_url,
            "read_api": pipeline.read_url,
            "auth": {"kind": "token"},
        }),
    )
    .await
    .unwrap();
    let files = artifacts().join(Uuid::new_v4().to_string());
    std::fs::create_dir_all(&files).unwrap();
    let mut paths = Vec::new();
    for (name, bytes) in [
        ("red-shoe.jpg", jpeg(1600, 1000)),
        ("blue-shoe.jpg", jpeg(1200, 1600)),
        // A JPEG's first bytes, then nothing a decoder can read.
        ("damaged.jpg", {
            let mut bytes = jpeg(64, 64)[..40].to_vec();
            bytes.extend_from_slice(&[0x5a; 400]);
            bytes
        }),
    ] {
        let path = files.join(name);
        std::fs::write(&path, bytes).unwrap();
        paths.push(path.display().to_string());
    }

    let driver = Driver::start();
    let browser = driver.browser(&files.join("profile")).await;
    let token = pipeline.write.token(SELLER);
    browser
        .goto(&format!("{page}#token={token}"))
        .await
        .unwrap();
    // The page shows its views once its modules have read the token: wait until the form is
    // shown, not only in the document.
    let product = browser
        .wait()
        .for_element(Locator::Id("product-id"))
        .await
        .unwrap();
    eventually(Duration::from_secs(20), || async {
        Ok(product.is_displayed().await?.then_some(()))
    })
    .await
    .unwrap();
    product.send_keys("sku-browser").await.unwrap();
    // Choosing several files at once, as the file dialog does.
    browser
        .find(Locator::Id("files"))
        .await
        .unwrap()
        .send_keys(&paths.join("\n"))
        .await
        .unwrap();

    let ready = eventually(SETTLE, || async {
        let ready = photos_in(&browser, "ready").await;
        Ok((ready.len() >= 2 && !photos_in(&browser, "failed").await.is_empty()).then_some(ready))
    })
    .await
    .unwrap_or_else(|error| panic!("the page did not show two ready and one failed: {error}"));
    assert_eq!(ready.len(), 2, "{ready:?}");
    for id in &ready {
        let photo = pipeline
            .store
            .load(id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(photo.status, PhotoStatus::Ready);
        assert_eq!(photo.seller_id, SELLER);
        let thumbnail = browser
            .find(Locator::Css(&format!("[data-photo-id=\"{id}\"] img")))
            .await
            .unwrap();
        let loaded = browser
            .execute(
                "return arguments[0].complete && arguments[0].naturalWidth > 0;",
                vec![serde_json::to_value(&thumbnail).unwrap()],
            )
            .await
            .unwrap();
        assert_eq!(loaded, json!(true), "the thumbnail of {id} did not load");
    }
    let failed = photos_in(&browser, "failed").await;
    let reason = browser
        .find(Locator::Css(&format!(
            "[data-photo-id=\"{}\"] .failure-reason",
            failed[0]
        )))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(reason.contains("damaged"), "{reason}");
    std::fs::write(
        artifacts().join("seller-page.png"),
        browser.screenshot().await.unwrap(),
    )
    .unwrap();

    // Edit the first ready photo's caption in its detail view.
    let edited = &ready[0];
    browser
        .find(Locator::Css(&format!(
            "[data-photo-id=\"{edited}\"] .open-photo"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let caption = browser
        .wait()
        .for_element(Locator::Id("caption"))
        .await
        .unwrap();
    // Its variants are offered as WebP and, once the service has added them after `ready`,
    // AVIF, without reloading the page.
    eventually(Duration::from_secs(30), || async {
        let text = browser
            .execute(
                "return [...document.querySelectorAll('#photo-dialog .variant-formats')]\
                 .map(e => e.textContent).join(' ');",
                vec![],
            )
            .await?;
        let text = text.as_str().unwrap_or_default().to_owned();
        Ok((text.contains("WEBP") && text.contains("AVIF")).then_some(()))
    })
    .await
    .unwrap_or_else(|error| panic!("the detail did not list WebP and AVIF: {error}"));
    caption.clear().await.unwrap();
    caption.send_keys("Red shoe, side view").await.unwrap();
    browser
        .find(Locator::Id("save-details"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually(Duration::from_secs(20), || async {
        let photo = pipeline.store.load(edited.parse()?).await?;
        Ok(
            (photo.and_then(|photo| photo.caption).as_deref() == Some("Red shoe, side view"))
                .then_some(()),
        )
    })
    .await
    .unwrap();
    std::fs::write(
        artifacts().join("seller-page-detail.png"),
        browser.screenshot().await.unwrap(),
    )
    .unwrap();

    // Its history: the photo as it was when it was declared, then that description restored.
    let first = browser
        .wait()
        .for_element(Locator::Css("#history-list [data-restore=\"1\"]"))
        .await
        .unwrap();
    browser
        .find(Locator::Css("#history-list li:first-child [data-as-of]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let as_of = browser
        .wait()
        .for_element(Locator::Css("#as-of-view dl"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(as_of.contains("pending_upload"), "{as_of}");
    std::fs::write(
        artifacts().join("seller-page-history.png"),
        browser.screenshot().await.unwrap(),
    )
    .unwrap();
    first.click().await.unwrap();
    eventually(Duration::from_secs(20), || async {
        let photo = pipeline.store.load(edited.parse()?).await?;
        Ok((photo.is_some_and(|photo| photo.caption.is_none())).then_some(()))
    })
    .await
    .unwrap();

    // Replace its image with another file: the photo shows it once rendered, same id.
    let reshot = files.join("red-shoe-reshot.jpg");
    std::fs::write(&reshot, jpeg(900, 600)).unwrap();
    browser
        .find(Locator::Id("replace-file"))
        .await
        .unwrap()
        .send_keys(&reshot.display().to_string())
        .await
        .unwrap();
    eventually(SETTLE, || async {
        let photo = pipeline.store.load(edited.parse()?).await?;
        Ok(photo
            .filter(|photo| photo.replacement.is_none() && photo.width == Some(900))
            .map(|photo| photo.filename))
    })
    .await
    .map(|filename| assert_eq!(filename, "red-shoe-reshot.jpg"))
    .unwrap_or_else(|error| panic!("the page did not replace the image: {error}"));

    // Delete it, confirming.
    browser
        .find(Locator::Id("delete-photo"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("confirm-delete"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually(Duration::from_secs(20), || async {
        let photo = pipeline.store.load(edited.parse()?).await?;
        Ok((photo.map(|photo| photo.status) == Some(PhotoStatus::Deleted)).then_some(()))
    })
    .await
    .unwrap();
    browser.close().await.unwrap();
}
