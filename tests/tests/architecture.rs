//! The invariants of `ARCHITECTURE.md`, checked: what each crate may depend on (from `cargo
//! metadata`, transitively) and what only one crate's code may do (from its sources). A change
//! that breaks one fails here, naming the crate and the path that brought the dependency in.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// The workspace's resolved graph of normal (not dev, not build) dependencies, by package name.
struct Graph {
    deps: BTreeMap<String, BTreeSet<String>>,
    /// What each crate of the workspace declares, of every kind (normal, dev, build).
    declared: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    /// The graph, read once for every test of this file.
    fn load() -> &'static Self {
        static GRAPH: OnceLock<Graph> = OnceLock::new();
        GRAPH.get_or_init(Self::read)
    }

    fn read() -> Self {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // Only what this platform builds: the rest is never downloaded.
        let host = Command::new("rustc")
            .arg("-vV")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| {
                text.lines()
                    .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
            })
            .expect("rustc names its host");
        let output = Command::new(cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--filter-platform",
                &host,
            ])
            .current_dir(workspace())
            .output()
            .expect("cargo metadata runs");
        assert!(output.status.success(), "{output:?}");
        let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
        let names: BTreeMap<&str, &str> = metadata["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|package| {
                (
                    package["id"].as_str().unwrap(),
                    package["name"].as_str().unwrap(),
                )
            })
            .collect();
        let mut deps = BTreeMap::new();
        for node in metadata["resolve"]["nodes"].as_array().unwrap() {
            let normal = node["deps"].as_array().unwrap().iter().filter(|dep| {
                dep["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|kind| kind["kind"].is_null())
            });
            deps.insert(
                names[node["id"].as_str().unwrap()].to_owned(),
                normal
                    .map(|dep| names[dep["pkg"].as_str().unwrap()].to_owned())
                    .collect(),
            );
        }
        let declared = metadata["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|package| package["source"].is_null())
            .map(|package| {
                let names = package["dependencies"].as_array().unwrap().iter();
                (
                    package["name"].as_str().unwrap().to_owned(),
                    names
                        .map(|dep| dep["name"].as_str().unwrap().to_owned())
                        .collect(),
                )
            })
            .collect();
        Self { deps, declared }
    }

    /// The first dependency of `package` (transitively) that `forbidden` matches, with the
    /// path that leads to it.
    fn reaches(&self, package: &str, forbidden: impl Fn(&str) -> bool) -> Option<Vec<String>> {
        let mut queue = VecDeque::from([vec![package.to_owned()]]);
        let mut seen = BTreeSet::from([package.to_owned()]);
        while let Some(path) = queue.pop_front() {
            let last = path.last().unwrap();
            for dep in self.deps.get(last).into_iter().flatten() {
                let mut next = path.clone();
                next.push(dep.clone());
                if forbidden(dep) {
                    return Some(next);
                }
                if seen.insert(dep.clone()) {
                    queue.push_back(next);
                }
            }
        }
        None
    }

    fn assert_never(&self, package: &str, what: &str, forbidden: impl Fn(&str) -> bool) {
        assert!(
            self.deps.contains_key(package),
            "no package {package} in the workspace"
        );
        if let Some(path) = self.reaches(package, forbidden) {
            panic!(
                "{package} must not depend on {what}, but: {}",
                path.join(" -> ")
            );
        }
    }

    /// The workspace's packages that depend directly on `dependency`.
    fn direct_users(&self, dependency: &str) -> BTreeSet<&str> {
        self.deps
            .iter()
            .filter(|(name, deps)| name.starts_with("catalog") && deps.contains(dependency))
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn is_async_runtime(name: &str) -> bool {
    matches!(name, "tokio" | "async-std" | "smol" | "futures-executor")
}

fn is_aws_sdk(name: &str) -> bool {
    name.starts_with("aws-")
}

fn is_database(name: &str) -> bool {
    name.starts_with("sqlx") || matches!(name, "postgres-es" | "cqrs-es" | "tokio-postgres")
}

fn is_network(name: &str) -> bool {
    is_async_runtime(name) || is_aws_sdk(name) || matches!(name, "reqwest" | "hyper")
}

#[test]
fn the_image_pipeline_has_no_runtime_aws_or_database() {
    let graph = Graph::load();
    graph.assert_never("catalog-images", "an async runtime", is_async_runtime);
    graph.assert_never("catalog-images", "an AWS SDK", is_aws_sdk);
    graph.assert_never("catalog-images", "a database crate", is_database);
}

#[test]
fn the_event_schema_does_no_io() {
    Graph::load().assert_never("catalog-events", "I/O", |name| {
        is_network(name) || is_database(name)
    });
}

#[test]
fn the_read_side_never_touches_postgres() {
    let graph = Graph::load();
    graph.assert_never("catalog-read-side", "a database crate", is_database);
    graph.assert_never("catalog-read-model", "a database crate", is_database);
}

#[test]
fn only_the_event_store_holds_cqrs_es_and_postgres_es() {
    let graph = Graph::load();
    for store in ["postgres-es", "cqrs-es"] {
        assert_eq!(
            graph.direct_users(store),
            BTreeSet::from(["catalog-event-store"]),
            "crates on {store}"
        );
    }
}

/// The processes that are not an HTTP API.
const WORKERS: [&str; 4] = [
    "catalog-image-processor",
    "catalog-notifier",
    "catalog-projections",
    "catalog-relay",
];

#[test]
fn no_worker_reaches_the_web_stack() {
    let graph = Graph::load();
    for worker in WORKERS {
        graph.assert_never(worker, "the web stack", |name| {
            name.starts_with("actix") || matches!(name, "catalog-http" | "catalog-write-side")
        });
    }
}

#[test]
fn the_command_api_reaches_no_image_codec() {
    Graph::load().assert_never("catalog-write-side", "an image codec", |name| {
        matches!(
            name,
            "catalog-images"
                | "image"
                | "turbojpeg"
                | "libavif"
                | "libheif-rs"
                | "webp"
                | "libwebp-sys"
                | "lcms2"
                | "zune-jpeg"
        )
    });
}

#[test]
fn nothing_deployed_and_no_library_reaches_development_support() {
    let graph = Graph::load();
    let libraries = graph.deps.keys().filter(|name| {
        name.starts_with("catalog")
            && !matches!(name.as_str(), "catalog-tests" | "catalog-local-stack")
    });
    for library in libraries {
        graph.assert_never(library, "the local-stack bootstrap", |name| {
            name == "catalog-local-stack"
        });
    }
}

#[test]
fn only_the_binary_exports_traces() {
    let graph = Graph::load();
    let libraries = graph
        .deps
        .keys()
        .filter(|name| name.starts_with("catalog-") && name.as_str() != "catalog-tests");
    for library in libraries {
        graph.assert_never(library, "the OTLP exporter", |name| {
            name == "opentelemetry-otlp"
        });
    }
    assert!(
        graph
            .reaches("catalog", |name| name == "opentelemetry-otlp")
            .is_some(),
        "the binary exports traces"
    );
}

/// Lines of the Rust sources under `crate_dir/src` that contain `needle` (case-insensitive),
/// as `path:line`.
fn lines_with(crate_dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![crate_dir.join("src")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (number, line) in text.lines().enumerate() {
                    if line.to_lowercase().contains(&needle.to_lowercase()) {
                        found.push(format!("{}:{}", path.display(), number + 1));
                    }
                }
            }
        }
    }
    found
}

/// The workspace's crate folders (every member but the tests, which drive everything).
fn crate_dirs() -> Vec<PathBuf> {
    let manifest = std::fs::read_to_string(workspace().join("Cargo.toml")).unwrap();
    let mut dirs = vec![workspace()];
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap();
    for member in members.split(',') {
        let member = member.trim().trim_matches('"');
        if !member.is_empty() && member != "tests" {
            dirs.push(workspace().join(member));
        }
    }
    dirs
}

#[test]
fn the_only_unsafe_code_is_the_one_call_into_libwebp() {
    let mut dirs = crate_dirs();
    dirs.push(workspace().join("tests"));
    let unsafe_lines: Vec<String> = dirs
        .iter()
        .flat_map(|dir| lines_with(dir, "unsafe"))
        .filter(|line| !line.contains("images/src/libwebp.rs:"))
        .collect();
    assert!(
        unsafe_lines.is_empty(),
        "unsafe code outside images/src/libwebp.rs: {unsafe_lines:?}"
    );
}

#[test]
fn only_the_event_store_appends_events() {
    for dir in crate_dirs() {
        if dir.ends_with("event-store") {
            continue;
        }
        let appends = lines_with(&dir, "INSERT INTO events");
        assert!(
            appends.is_empty(),
            "events appended outside the event store: {appends:?}"
        );
    }
}

#[test]
fn only_the_projections_write_the_read_model() {
    let writes = [
        ".put_item(",
        ".update_item(",
        ".delete_item(",
        ".batch_write_item(",
    ];
    for dir in crate_dirs() {
        if dir.ends_with("projections") {
            continue;
        }
        for write in writes {
            let found = lines_with(&dir, write);
            assert!(
                found.is_empty(),
                "DynamoDB written outside projections: {found:?}"
            );
        }
    }
}

#[test]
fn the_aggregate_never_calls_an_aws_sdk() {
    let aggregate = workspace().join("event-store/src/aggregate");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&aggregate).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        if text.contains("aws_") {
            found.push(entry.path().display().to_string());
        }
    }
    assert!(
        found.is_empty(),
        "the aggregate names an AWS SDK: {found:?}"
    );
}

#[test]
fn only_events_defines_what_goes_on_the_bus() {
    // One crate puts events on the bus, and what it puts there is `catalog_events`'s envelope:
    // it declares no serialized type of its own.
    for dir in crate_dirs() {
        let puts = lines_with(&dir, ".put_events(");
        if dir.ends_with("relay") {
            assert!(!puts.is_empty(), "the relay no longer calls PutEvents");
            let own: Vec<String> = lines_with(&dir, "derive(")
                .into_iter()
                .filter(|line| source_line(line).contains("Serialize"))
                .collect();
            assert!(own.is_empty(), "the relay declares a bus type: {own:?}");
            let envelope = lines_with(&dir, "catalog_events::EventEnvelope");
            assert!(
                !envelope.is_empty(),
                "the relay sends something but the envelope"
            );
        } else {
            assert!(puts.is_empty(), "PutEvents outside the relay: {puts:?}");
        }
    }
}

#[test]
fn only_the_notifier_calls_sellers_urls_through_the_guard() {
    // An HTTP client is in the web stack (its identity provider's keys), the guard, the
    // notifier and the binary (`catalog alive` asks its own part's metrics endpoint); of these
    // only the notifier takes URLs from sellers, and its client connects through the guard's
    // resolver.
    assert_eq!(
        Graph::load().direct_users("reqwest"),
        BTreeSet::from([
            "catalog",
            "catalog-callback-guard",
            "catalog-http",
            "catalog-notifier",
            "catalog-tests"
        ])
    );
    let notifier = workspace().join("notifier");
    let resolver = lines_with(&notifier, ".dns_resolver(Arc::new(GuardedResolver(");
    assert_eq!(
        resolver.len(),
        1,
        "the notifier's client without the guard's resolver"
    );
    let clients = lines_with(&notifier, "reqwest::Client::builder()");
    assert_eq!(
        clients.len(),
        1,
        "more than one HTTP client in the notifier: {clients:?}"
    );
}

/// The text of a `path:line` that [`lines_with`] or [`lines_in`] found.
fn source_line(found: &str) -> String {
    let (path, number) = found.rsplit_once(':').unwrap();
    let number: usize = number.parse().unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().nth(number - 1).unwrap().to_owned()
}

/// Lines of `dir`'s files (any depth) ending in `extension` that contain `needle`
/// (case-insensitive), as `path:line`.
fn lines_in(dir: &Path, extension: &str, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("target") && !path.ends_with("node_modules") {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == extension) {
                let text = std::fs::read_to_string(&path).unwrap();
                for (number, line) in text.lines().enumerate() {
                    if line.to_lowercase().contains(&needle.to_lowercase()) {
                        found.push(format!("{}:{}", path.display(), number + 1));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn a_products_owner_is_set_by_the_append_and_changed_only_by_a_transfer() {
    // A product row is inserted by the append statement's claim, by migration 0008 (photos
    // stored before it) and by an operator's transfer; the claim's conflict branch keeps the
    // owner it finds, and only the transfer (`store/products.rs`) sets another.
    let mut dirs = crate_dirs();
    dirs[0] = workspace().join("src");
    let search = |needle: &str| -> Vec<String> {
        dirs.iter()
            .flat_map(|dir| ["rs", "sql"].map(|extension| lines_in(dir, extension, needle)))
            .flatten()
            .collect()
    };
    let inserts = search("INSERT INTO products");
    assert_eq!(inserts.len(), 3, "{inserts:?}");
    for place in [
        "event-store/src/store/append.rs:",
        "event-store/migrations/0008_products.sql:",
        "event-store/src/store/products.rs:",
    ] {
        assert!(
            inserts.iter().any(|line| line.contains(place)),
            "products inserted outside the append, migration 0008 and the transfer: {inserts:?}"
        );
    }
    let owner_updates: Vec<String> = search("SET seller_id")
        .into_iter()
        .chain(search(", seller_id ="))
        .collect();
    let keeps = search("DO UPDATE SET seller_id = products.seller_id");
    // (Each event's own seller, filled once by migration 0010, is not a product's owner.)
    let changes: Vec<&String> = owner_updates
        .iter()
        .filter(|line| !keeps.contains(line) && !line.contains("migrations/0010_change_feed.sql:"))
        .collect();
    assert_eq!(keeps.len(), 1, "{keeps:?}");
    assert!(
        changes.len() == 1 && changes[0].contains("event-store/src/store/products.rs:"),
        "a product's owner is changed outside the transfer: {changes:?}"
    );
}

#[test]
fn no_test_fakes_postgres_or_aws() {
    // The tests run against the real Postgres and moto: no crate of the workspace declares a
    // mocking or replaying crate (of any kind: normal, dev or build), and no test builds an SDK
    // client on a connector of its own.
    let fakes = |name: &str| {
        ["mock", "fake", "replay", "testcontainers"]
            .iter()
            .any(|fake| name.contains(fake))
    };
    for (package, declared) in &Graph::load().declared {
        let faked: Vec<&String> = declared.iter().filter(|name| fakes(name)).collect();
        assert!(faked.is_empty(), "{package} declares {faked:?}");
    }
    let connectors: Vec<String> = lines_in(&workspace().join("tests"), "rs", ".http_client(")
        .into_iter()
        .filter(|line| !line.contains("architecture.rs:"))
        .collect();
    assert!(
        connectors.is_empty(),
        "an SDK client on a connector of a test's own: {connectors:?}"
    );
}
