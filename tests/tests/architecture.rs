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
        Self { deps }
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
fn nothing_deployed_depends_on_development_support() {
    Graph::load().assert_never("catalog", "the local-stack bootstrap", |name| {
        name == "catalog-local-stack"
    });
}

#[test]
fn only_the_write_side_holds_the_event_store() {
    let graph = Graph::load();
    assert_eq!(
        graph.direct_users("postgres-es"),
        BTreeSet::from(["catalog-write-side"])
    );
    assert_eq!(
        graph.direct_users("cqrs-es"),
        BTreeSet::from(["catalog-write-side"])
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
fn only_the_write_side_appends_events() {
    for dir in crate_dirs() {
        if dir.ends_with("write-side") {
            continue;
        }
        let appends = lines_with(&dir, "INSERT INTO events");
        assert!(
            appends.is_empty(),
            "events appended outside the write side: {appends:?}"
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
    let aggregate = workspace().join("write-side/src/aggregate");
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
