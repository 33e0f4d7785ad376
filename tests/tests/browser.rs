//! The seller page in a real browser: Debian's Chromium, headless, driven through WebDriver
//! (`chromedriver`), against the whole pipeline on the local stack. The page is served from
//! the local stack's S3, as CloudFront serves it from S3 in AWS, and calls both APIs across
//! origins (CORS). Screenshots of each view are kept in `target/browser/`, and axe-core (npm,
//! installed by `./dev test` under `tests/browser/`) scans each view: no serious or critical
//! violation may be found.

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

/// The accessibility violations axe-core finds in the page as it is now, each as
/// `impact id: help (nodes)`, and how many are serious or critical.
async fn axe(browser: &Client, view: &str) -> Vec<String> {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/node_modules/axe-core/axe.min.js"),
    )
    .expect("axe-core is installed (./dev test runs npm ci in tests/browser)");
    browser.execute(&source, vec![]).await.unwrap();
    let found = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document, {resultTypes: ['violations']})\
               .then(r => done(r.violations.map(v => \
                 `${v.impact} ${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' ')).join(', ')})`)))\
               .catch(e => done([`critical axe-error: ${e}`]));",
            vec![],
        )
        .await
        .unwrap();
    let found: Vec<String> = serde_json::from_value(found).unwrap();
    println!("axe-core, {view}: {} violations: {found:#?}", found.len());
    found
        .into_iter()
        .filter(|violation| violation.starts_with("serious") || violation.starts_with("critical"))
        .collect()
}

/// Keeps a screenshot of the page as it is now, named for what it shows.
async fn screenshot(browser: &Client, name: &str) {
    std::fs::write(
        artifacts().join(format!("{name}.png")),
        browser.screenshot().await.unwrap(),
    )
    .unwrap();
}

/// The photo ids of the elements `selector` finds, in the page's order.
async fn ids_in(browser: &Client, selector: &str) -> Vec<String> {
    let found = browser
        .execute(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.dataset.photoId);",
            vec![json!(selector)],
        )
        .await
        .unwrap();
    serde_json::from_value(found).unwrap_or_default()
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
    open_page(&pipeline, &browser, SELLER).await;
    type_into(&browser, "product-id", "sku-browser").await;
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
        // The thumbnail loads after the row shows the photo ready (its <picture> picks a file).
        eventually(Duration::from_secs(20), || async {
            let loaded = browser
                .execute(
                    "const img = document.querySelector(`[data-photo-id=\"${arguments[0]}\"] img`);\
                     return !!img && img.complete && img.naturalWidth > 0;",
                    vec![json!(id)],
                )
                .await?;
            Ok((loaded == json!(true)).then_some(()))
        })
        .await
        .unwrap_or_else(|error| panic!("the thumbnail of {id} did not load: {error}"));
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
    screenshot(&browser, "seller-page").await;
    assert_eq!(
        axe(&browser, "inventory with uploads").await,
        Vec::<String>::new()
    );

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
    click(&browser, "save-details").await;
    eventually(Duration::from_secs(20), || async {
        let photo = pipeline.store.load(edited.parse()?).await?;
        Ok(
            (photo.and_then(|photo| photo.caption).as_deref() == Some("Red shoe, side view"))
                .then_some(()),
        )
    })
    .await
    .unwrap();
    screenshot(&browser, "seller-page-detail").await;
    assert_eq!(axe(&browser, "detail dialog").await, Vec::<String>::new());

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
    screenshot(&browser, "seller-page-history").await;
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
    click(&browser, "delete-photo").await;
    click(&browser, "confirm-delete").await;
    eventually(Duration::from_secs(20), || async {
        let photo = pipeline.store.load(edited.parse()?).await?;
        Ok((photo.map(|photo| photo.status) == Some(PhotoStatus::Deleted)).then_some(()))
    })
    .await
    .unwrap();
    browser.close().await.unwrap();
}

/// The page opened on `pipeline`'s services with `seller`'s token, once its app shows: its
/// views appear once its modules have read the token, so the form must be shown, not only be
/// in the document.
async fn open_page(pipeline: &Pipeline, browser: &Client, seller: &str) {
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
    let token = pipeline.write.token(seller);
    browser
        .goto(&format!("{page}#token={token}"))
        .await
        .unwrap();
    let form = browser
        .wait()
        .for_element(Locator::Id("product-id"))
        .await
        .unwrap();
    eventually(Duration::from_secs(20), || async {
        Ok(form.is_displayed().await?.then_some(()))
    })
    .await
    .unwrap();
}

/// Clicks the element `id`, once it is in the page (a confirmation appears after its button).
async fn click(browser: &Client, id: &str) {
    browser
        .wait()
        .for_element(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Sets an input's value as a user types it (the field cleared first).
async fn type_into(browser: &Client, id: &str, text: &str) {
    let field = browser.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_orders_a_gallery_by_keyboard_filters_and_acts_on_many_photos() {
    const SELLER: &str = "seller-gallery";
    let pipeline = Pipeline::start().await.unwrap();
    // Four ready photos of one product, two of them tagged "sale"; the newest is listed first.
    let mut photos = Vec::new();
    for n in 0..4 {
        let photo = pipeline
            .upload_file(SELLER, "sku-gallery", None, jpeg(640 + 40 * n, 480))
            .await
            .unwrap();
        pipeline.ready(photo).await.unwrap();
        photos.push(photo);
    }
    for photo in &photos[1..3] {
        let command = catalog_event_store::aggregate::PhotoCommand::UpdateDetails {
            seller_id: SELLER.into(),
            caption: None,
            alt_text: None,
            tags: Some(vec!["sale".into()]),
        };
        pipeline
            .store
            .execute(*photo, command, "test")
            .await
            .unwrap();
    }
    let id = |n: usize| photos[n].to_string();

    let files = artifacts().join(Uuid::new_v4().to_string());
    std::fs::create_dir_all(&files).unwrap();
    let driver = Driver::start();
    let browser = driver.browser(&files.join("profile")).await;
    open_page(&pipeline, &browser, SELLER).await;
    eventually(SETTLE, || async {
        let ready = photos_in(&browser, "ready").await;
        Ok((ready.len() == 4).then_some(()))
    })
    .await
    .unwrap();

    // Each photo is a <picture>: AVIF and WebP sources and the JPEG, each over the variants,
    // sized for the layout, the image's own size given.
    let picture = browser
        .execute(
            "const p = document.querySelector(`#photo-rows [data-photo-id=\"${arguments[0]}\"] picture`);\
             const img = p && p.querySelector('img');\
             return p && {\
               types: [...p.querySelectorAll('source')].map(s => s.type),\
               srcset: img.getAttribute('srcset') || '', sizes: img.getAttribute('sizes') || '',\
               width: img.getAttribute('width'), height: img.getAttribute('height') };",
            vec![json!(id(3))],
        )
        .await
        .unwrap();
    assert!(
        picture["types"]
            .as_array()
            .unwrap()
            .contains(&json!("image/webp")),
        "{picture}"
    );
    assert!(
        picture["srcset"].as_str().unwrap().contains(" 150w"),
        "{picture}"
    );
    assert!(!picture["sizes"].as_str().unwrap().is_empty(), "{picture}");
    assert!(
        picture["width"].is_string() && picture["height"].is_string(),
        "{picture}"
    );
    assert_eq!(axe(&browser, "inventory").await, Vec::<String>::new());

    // A tag filter lists the two photos with that tag, newest first.
    type_into(&browser, "filter-tag", "sale\n").await;
    eventually(Duration::from_secs(20), || async {
        let listed = ids_in(&browser, "#photo-rows [data-photo-id]").await;
        Ok((listed == [id(2), id(1)]).then_some(()))
    })
    .await
    .unwrap_or_else(|error| panic!("the tag filter did not list the two tagged photos: {error}"));
    screenshot(&browser, "seller-page-tag-filter").await;
    type_into(&browser, "filter-tag", "\n").await;
    eventually(Duration::from_secs(20), || async {
        Ok((ids_in(&browser, "#photo-rows [data-photo-id]").await.len() == 4).then_some(()))
    })
    .await
    .unwrap();

    // The product view shows the gallery in order: none placed yet, so newest first.
    type_into(&browser, "product-view-id", "sku-gallery").await;
    click(&browser, "show-product").await;
    let cards = "#product-gallery [data-photo-id]";
    eventually(Duration::from_secs(20), || async {
        Ok((ids_in(&browser, cards).await == [id(3), id(2), id(1), id(0)]).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(axe(&browser, "product view").await, Vec::<String>::new());

    // By keyboard alone: the oldest photo made primary, then the photo it displaced moved
    // down one. Each move is saved, focus stays on the moved photo, and the page says where
    // it went.
    let press = |photo: String, button: &'static str| {
        let browser = browser.clone();
        async move {
            let selector = format!("#product-gallery [data-photo-id=\"{photo}\"] .{button}");
            let button = browser.find(Locator::Css(&selector)).await.unwrap();
            button
                .send_keys(&fantoccini::key::Key::Enter.to_string())
                .await
                .unwrap();
        }
    };
    let saved = |expected: Vec<String>| {
        let pipeline = &pipeline;
        async move {
            eventually(Duration::from_secs(20), || async {
                let order = pipeline.store.order_of(SELLER, "sku-gallery").await?;
                let order: Vec<String> = order.photo_ids.iter().map(Uuid::to_string).collect();
                Ok((order == expected).then_some(()))
            })
            .await
            .unwrap_or_else(|error| panic!("the reorder was not saved as {expected:?}: {error}"));
        }
    };
    press(id(0), "move-first").await;
    saved(vec![id(0), id(3), id(2), id(1)]).await;
    press(id(3), "move-down").await;
    saved(vec![id(0), id(2), id(3), id(1)]).await;
    let focused = browser
        .execute(
            "const card = document.activeElement.closest('[data-photo-id]');\
             return [card && card.dataset.photoId, document.body.innerText];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(focused[0], json!(id(3)), "focus stays on the moved photo");
    assert!(
        focused[1]
            .as_str()
            .unwrap()
            .contains("moved to position 3 of 4"),
        "the move is announced"
    );
    assert_eq!(ids_in(&browser, cards).await, [id(0), id(2), id(3), id(1)]);
    screenshot(&browser, "seller-page-product").await;

    // Bulk delete: the first row, then a shift-click on the third selects the three.
    let rows = ids_in(&browser, "#photo-rows [data-photo-id]").await;
    let checkbox = |photo: &str| format!("#photo-rows [data-photo-id=\"{photo}\"] .select-photo");
    browser
        .find(Locator::Css(&checkbox(&rows[0])))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .execute(
            "document.querySelector(arguments[0]).dispatchEvent(\
               new MouseEvent('click', {bubbles: true, cancelable: true, shiftKey: true}));",
            vec![json!(checkbox(&rows[2]))],
        )
        .await
        .unwrap();
    let bar = browser.find(Locator::Id("bulk-bar")).await.unwrap();
    eventually(Duration::from_secs(10), || async {
        Ok(bar.text().await?.contains('3').then_some(()))
    })
    .await
    .unwrap_or_else(|error| panic!("three photos were not selected: {error}"));
    screenshot(&browser, "seller-page-bulk").await;
    assert_eq!(axe(&browser, "bulk selection").await, Vec::<String>::new());
    click(&browser, "bulk-delete").await;
    click(&browser, "confirm-bulk-delete").await;
    let summary = browser.find(Locator::Id("bulk-summary")).await.unwrap();
    eventually(Duration::from_secs(30), || async {
        Ok(summary
            .text()
            .await?
            .contains("Deleted 3 photos")
            .then_some(()))
    })
    .await
    .unwrap_or_else(|error| panic!("no summary of the bulk delete: {error}"));
    for photo in &rows[..3] {
        let state = pipeline
            .store
            .load(photo.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.status, PhotoStatus::Deleted);
    }
    let kept = pipeline
        .store
        .load(rows[3].parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.status, PhotoStatus::Ready);

    // A file the service would refuse is previewed and refused in the browser, with its
    // reason, before anything is sent.
    let gif = files.join("banner.gif");
    std::fs::write(
        &gif,
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
    )
    .unwrap();
    type_into(&browser, "product-id", "sku-gallery").await;
    browser
        .find(Locator::Id("files"))
        .await
        .unwrap()
        .send_keys(&gif.display().to_string())
        .await
        .unwrap();
    let refused = browser
        .wait()
        .for_element(Locator::Css("[data-refused] .refusal-reason"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(refused.to_lowercase().contains("gif"), "{refused}");
    let preview = browser
        .execute(
            "const img = document.querySelector('[data-refused] img');\
             return img && img.src.startsWith('blob:');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(preview, json!(true), "the refused file is previewed");
    let order = pipeline
        .store
        .order_of(SELLER, "sku-gallery")
        .await
        .unwrap();
    assert_eq!(
        order.photo_ids.len(),
        1,
        "nothing was declared for the refused file"
    );
    screenshot(&browser, "seller-page-refused").await;
    assert_eq!(axe(&browser, "a refused file").await, Vec::<String>::new());
    browser.close().await.unwrap();
}
