//! The OpenAPI documents: what each API serves at `/openapi.json` is what its routes generate,
//! and the copies committed under `docs/openapi/` are exactly that (CI fails otherwise). To
//! write the committed copies again after changing an API:
//! `CATALOG_UPDATE_OPENAPI=1 ./dev test -p catalog-tests --test openapi`.
//! (`./dev test` also validates them with `openapi-spec-validator`.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::{Path, PathBuf};

use catalog_http::openapi::{Description, Routes, ServerConfig, document};
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
    let generated = text(&document(description, routes, &ServerConfig::default()));
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
        assert_eq!(
            served,
            document(&description, routes, &ServerConfig::default()),
            "{url}"
        );
        assert_eq!(served["openapi"], "3.1.0");
    }
}

/// Every operation of `document`, with its method and path (webhooks by name).
fn operations(document: &Value) -> Vec<(String, &Value)> {
    let mut found = Vec::new();
    for section in ["paths", "webhooks"] {
        let Some(items) = document[section].as_object() else {
            continue;
        };
        for (path, item) in items {
            for (method, operation) in item.as_object().unwrap() {
                found.push((format!("{method} {path}"), operation));
            }
        }
    }
    found
}

/// The schema `schema` stands for, following a `$ref` into the components.
fn resolved<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => document
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or(&Value::Null),
        None => schema,
    }
}

/// Whether a body of `media` shows an example: its own, or its schema's.
fn has_example(document: &Value, media: &Value) -> bool {
    let schema = resolved(document, &media["schema"]);
    let properties = schema["properties"].as_object();
    !media["example"].is_null()
        || media["examples"].is_object()
        || !schema["example"].is_null()
        || properties.is_some_and(|properties| {
            properties
                .values()
                .all(|property| !property["example"].is_null())
        })
        || schema["examples"].is_array()
        || (schema["type"] == "array" && !resolved(document, &schema["items"])["example"].is_null())
}

/// What a client generator needs of a document: calls named as calls, every answer described,
/// an example of every JSON body sent and answered, and ids typed as UUIDs.
fn client_ready(name: &str, document: &Value) -> Vec<String> {
    let mut gaps = Vec::new();
    for (at, operation) in operations(document) {
        let id = operation["operationId"].as_str().unwrap_or_default();
        let mut letters = id.chars();
        if !(letters.next().is_some_and(|c| c.is_ascii_lowercase())
            && letters.all(|c| c.is_ascii_alphanumeric()))
        {
            gaps.push(format!("{name} {at}: operationId {id:?} is not camelCase"));
        }
        if let Some(media) = operation.pointer("/requestBody/content/application~1json")
            && !has_example(document, media)
        {
            gaps.push(format!("{name} {at}: no example of its request body"));
        }
        for (status, response) in operation["responses"].as_object().unwrap() {
            let response = resolved(document, response);
            if response["description"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
            {
                gaps.push(format!("{name} {at} {status}: no description"));
            }
            if status.starts_with('2')
                && let Some(media) = response.pointer("/content/application~1json")
                && !has_example(document, media)
            {
                gaps.push(format!("{name} {at} {status}: no example"));
            }
        }
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let uuid = parameter["name"] == "id" || parameter["name"] == "photo_id";
            if uuid && parameter["schema"]["format"] != "uuid" {
                gaps.push(format!(
                    "{name} {at}: parameter {} is not a uuid",
                    parameter["name"]
                ));
            }
        }
    }
    for (schema_name, schema) in document["components"]["schemas"].as_object().unwrap() {
        for (property, definition) in schema["properties"].as_object().into_iter().flatten() {
            let ids = matches!(property.as_str(), "photo_id" | "replay_id");
            let id_lists = property == "photo_ids";
            let format = if id_lists {
                &definition["items"]["format"]
            } else {
                &definition["format"]
            };
            if (ids || id_lists) && format != "uuid" {
                gaps.push(format!("{name} {schema_name}.{property} is not a uuid"));
            }
        }
    }
    gaps
}

#[test]
fn clients_can_be_generated_from_both_documents() {
    let mut gaps = Vec::new();
    for (name, description, routes) in [
        (
            "write-api",
            catalog_write_side::api::DESCRIPTION,
            catalog_write_side::api::routes as Routes,
        ),
        (
            "read-api",
            catalog_read_side::api::DESCRIPTION,
            catalog_read_side::api::routes as Routes,
        ),
    ] {
        gaps.extend(client_ready(
            name,
            &document(&description, routes, &ServerConfig::default()),
        ));
    }
    assert!(gaps.is_empty(), "{}", gaps.join("\n"));
}

#[test]
fn the_write_api_documents_the_webhooks_it_sends_with_their_signed_headers() {
    let document = document(
        &catalog_write_side::api::DESCRIPTION,
        catalog_write_side::api::routes,
        &ServerConfig::default(),
    );
    for hook in ["photoReady", "photoFailed"] {
        let post = &document["webhooks"][hook]["post"];
        let headers: Vec<&str> = post["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|header| header["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            headers,
            ["webhook-id", "webhook-timestamp", "webhook-signature"]
        );
        let example = &post["requestBody"]["content"]["application/json"]["example"];
        assert_eq!(
            example["photo"]["photo_id"].as_str().map(str::len),
            Some(36)
        );
    }
}

#[test]
fn the_served_document_names_the_configured_public_address() {
    let server = ServerConfig {
        public_url: Some("https://api.example.com".into()),
    };
    let served = document(
        &catalog_read_side::api::DESCRIPTION,
        catalog_read_side::api::routes,
        &server,
    );
    assert_eq!(served["servers"][0]["url"], "https://api.example.com");
}
