//! API fuzzing: schemathesis (a property-based tester from PyPI) reads each API's committed
//! OpenAPI document and sends a bounded number of generated requests per operation, valid and
//! not, to both running APIs, as a seller would (with a token) and as anyone would (without).
//! It fails on any `5xx` (but the read-your-writes `503` of `tests/read-api.schemathesis.toml`),
//! and on any answer the document does not describe: a status, a content type, headers or a
//! body that differ from it.
//!
//! `./dev test` installs schemathesis in `.local/venv` and names it in `CATALOG_SCHEMATHESIS`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::Path;
use std::process::Command;

use catalog_tests::pipeline::Pipeline;
use catalog_tests::stack_env;

/// Generated requests per operation and phase.
const EXAMPLES: &str = "15";

/// Runs schemathesis's `phases` against the API at `base_url` from its `document`, with the
/// allowances of `config` (a file beside this crate's manifest) if given.
fn fuzz(document: &str, base_url: &str, token: &str, phases: &str, config: Option<&str>) {
    let schemathesis = stack_env("CATALOG_SCHEMATHESIS").unwrap();
    let document = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/openapi")
        .join(document);
    let mut command = Command::new(schemathesis);
    if let Some(config) = config {
        command
            .arg("--config-file")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(config));
    }
    let output = command
        .arg("run")
        .arg(&document)
        .args(["--url", base_url])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--phases", phases])
        .args(["--max-examples", EXAMPLES])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
        ])
        // One worker: Hypothesis describes its filters by parsing their source with `ast`,
        // whose state CPython 3.11 shares between threads (python/cpython#106905: "AST
        // constructor recursion depth mismatch" when two workers parse at once).
        .args(["--workers", "1", "--seed", "20261128", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", "")
        // Its cache of found failures stays out of the source tree.
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .output()
        .expect("schemathesis runs");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(
        output.status.success(),
        "schemathesis found failures in {} (its report is above): {}",
        document.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_apis_answer_generated_requests_as_their_documents_say() {
    // Limits high enough that what is fuzzed is the API, not its rate limits.
    let pipeline = Pipeline::start_unlimited().await.unwrap();
    let token = pipeline.write.token("seller-fuzz");
    let (write, read) = (pipeline.write.base_url.clone(), pipeline.read_url.clone());
    tokio::task::spawn_blocking(move || {
        // The write API's document links a created photo to the calls on it, which the
        // stateful phase follows; the read API's has no such links.
        fuzz(
            "write-api.json",
            &write,
            &token,
            "examples,coverage,fuzzing,stateful",
            None,
        );
        fuzz(
            "read-api.json",
            &read,
            &token,
            "examples,coverage,fuzzing",
            Some("read-api.schemathesis.toml"),
        );
    })
    .await
    .unwrap();
}
