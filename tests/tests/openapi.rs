//! The OpenAPI documents: what each API serves at `/openapi.json` is what its routes generate,
//! and the copies committed under `docs/openapi/` are exactly that (CI fails otherwise). To
//! write the committed copies again after changing an API:
//! `CATALOG_UPDATE_OPENAPI=1 ./dev test -p catalog-tests --test openapi`.
//! (`./dev test` also validates them with `openapi-spec-validator`.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::{Path, PathBuf};

use catalog_http::openapi::{Description, Routes, document};
use catalog_tests::pipeline::Pipeline;
use serde_json::Value;

fn committed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/openapi")
        .join(name)
}

/// The document as committed: pretty JSON with a final newline.
fn text(document: &Value) -> String {
    serde_json::to_string_pretty(document).unwrap() + "\n"
}

fn check(name: &str, description: &Description, routes: Routes) {
    let generated = text(&document(description, routes));
    let path = committed(name);
    if std::env::var_os("CATALOG_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} differs from what the code generates: run \
         CATALOG_UPDATE_OPENAPI=1 ./dev test -p catalog-tests --test openapi",
        path.display()
    );
}

#[test]
fn the_committed_write_api_document_is_the_generated_one() {
    check(
        "write-api.json",
        &catalog_write_side::api::DESCRIPTION,
        catalog_write_side::api::routes,
    );
}

#[test]
fn the_committed_read_api_document_is_the_generated_one() {
    check(
        "read-api.json",
        &catalog_read_side::api::DESCRIPTION,
        catalog_read_side::api::routes,
    );
}

#[tokio::test]
async fn both_apis_serve_their_document() {
    let pipeline = Pipeline::start().await.unwrap();
    let http = &pipeline.write.http;
    for (url, description, routes) in [
        (
            pipeline.write.url("/openapi.json"),
            catalog_write_side::api::DESCRIPTION,
            catalog_write_side::api::routes as Routes,
        ),
        (
            pipeline.read("/openapi.json"),
            catalog_read_side::api::DESCRIPTION,
            catalog_read_side::api::routes as Routes,
        ),
    ] {
        let served: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(served, document(&description, routes), "{url}");
        assert_eq!(served["openapi"], "3.1.0");
    }
}
