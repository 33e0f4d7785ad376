//! API fuzzing: schemathesis (a property-based tester from PyPI) reads each API's committed
//! OpenAPI document and sends a bounded number of generated requests per operation, valid and
//! not, to both running APIs, as a seller would (with a token) and as anyone would (without).
//! It fails on any `5xx`, and on any answer the document does not describe: a status, a
//! content type, headers or a body that differ from it.
//!
//! `./dev test` installs schemathesis in `.local/venv` and names it in `CATALOG_SCHEMATHESIS`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::Path;
use std::process::Command;

use catalog_tests::pipeline::Pipeline;
use catalog_tests::stack_env;

/// Generated requests per operation and phase.
const EXAMPLES: &str = "15";

fn fuzz(document: &str, base_url: &str, token: &str) {
    let schemathesis = stack_env("CATALOG_SCHEMATHESIS").unwrap();
    let document = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/openapi")
        .join(document);
    let output = Command::new(schemathesis)
        .arg("run")
        .arg(&document)
        .args(["--url", base_url])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", EXAMPLES])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
        ])
        .args(["--workers", "2", "--seed", "20261128", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&output.stdout);
    println!("{report}");
    assert!(
        output.status.success(),
        "schemathesis found failures in {}:\n{report}\n{}",
        document.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_apis_answer_generated_requests_as_their_documents_say() {
    let pipeline = Pipeline::start().await.unwrap();
    let token = pipeline.write.token("seller-fuzz");
    let (write, read) = (pipeline.write.base_url.clone(), pipeline.read_url.clone());
    tokio::task::spawn_blocking(move || {
        fuzz("write-api.json", &write, &token);
        fuzz("read-api.json", &read, &token);
    })
    .await
    .unwrap();
}
