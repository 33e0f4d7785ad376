//! The OpenAPI 3.1 document of each API, generated from its routes: every handler declares its
//! path, parameters, bodies and answers (`#[utoipa::path]`), and `utoipa-actix-web` collects
//! exactly the handlers that are routed, so the document cannot list a route that does not
//! exist or miss one that does. This module adds what every operation shares: the problem
//! schema with every problem `type` of [`Code`], the bearer scheme, and the answers any call
//! may get (`401` where a token is involved, `500`).
//!
//! Each API serves its document at `GET /openapi.json`, its `servers` naming where the API is
//! reached (`CATALOG_PUBLIC_URL`, or its local address); the document with the local address
//! is committed under `docs/openapi/`, and a test fails when the two differ.

use actix_web::{App, HttpResponse, web};
use serde_json::{Value, json};
use utoipa::openapi::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::problem::{Code, PROBLEM_JSON, TYPE_PREFIX};

/// The routes of an API, as `utoipa-actix-web` collects them.
pub type Routes = fn(&mut ServiceConfig);

/// What an API says of itself.
#[derive(Debug, Clone, Copy)]
pub struct Description {
    pub title: &'static str,
    pub summary: &'static str,
    /// Where it listens by default, as the document's server.
    pub local_url: &'static str,
    /// The webhooks it documents (OpenAPI 3.1 `webhooks`), and the schema of their body.
    pub webhooks: Option<fn() -> (Value, Value)>,
}

/// Where clients reach an API.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerConfig {
    /// The API's public base URL (`https://api.example.com`), which the OpenAPI document it
    /// serves lists as its server; without it, the API's local address.
    #[arg(long = "public-url", env = "CATALOG_PUBLIC_URL")]
    pub public_url: Option<String>,
}

/// The API's OpenAPI document, as served by an API reached at `server` (as committed with the
/// default, the local address).
pub fn document(description: &Description, routes: Routes, server: &ServerConfig) -> Value {
    let (_, api) = App::new()
        .into_utoipa_app()
        .configure(routes)
        .split_for_parts();
    let mut document = finish(description, api);
    document["servers"] = match &server.public_url {
        Some(url) => json!([{"url": url, "description": "this deployment"}]),
        None => json!([{"url": description.local_url, "description": "local stack"}]),
    };
    document
}

/// Where a created photo's id leads: the calls that take it in their path, by operation id,
/// so that clients (and API fuzzers) can follow a creation to what may be done next.
const PHOTO_LINKS: [(&str, &str); 5] = [
    ("UploadComplete", "completePhotoUpload"),
    ("Update", "updatePhoto"),
    ("Delete", "deletePhoto"),
    ("Reprocess", "reprocessPhoto"),
    ("History", "getPhotoHistory"),
];

/// Links from the answers that create a photo to the calls on it.
fn link_created_photos(document: &mut Value) {
    let links: serde_json::Map<String, Value> = PHOTO_LINKS
        .iter()
        .map(|(name, operation)| {
            (
                (*name).to_owned(),
                json!({"operationId": operation, "parameters": {"id": "$response.body#/photo_id"}}),
            )
        })
        .collect();
    for path in ["/v1/photos", "/v1/photos/upload"] {
        let pointer = format!("/paths/{}/post/responses/201", path.replace('/', "~1"));
        if let Some(created) = document
            .pointer_mut(&pointer)
            .and_then(Value::as_object_mut)
        {
            created.insert("links".to_owned(), Value::Object(links.clone()));
        }
    }
}

/// Registers `GET /openapi.json`, answering with `document`.
pub fn serve(config: &mut web::ServiceConfig, document: web::Data<Value>) {
    config.app_data(document).route(
        "/openapi.json",
        web::get().to(|document: web::Data<Value>| async move {
            HttpResponse::Ok().json(document.get_ref())
        }),
    );
}

fn finish(description: &Description, api: OpenApi) -> Value {
    let mut document = serde_json::to_value(api).unwrap_or_default();
    document["openapi"] = json!("3.1.0");
    document["info"] = json!({
        "title": description.title,
        "version": env!("CARGO_PKG_VERSION"),
        "summary": description.summary,
        "description": "Errors are RFC 9457 problem+json documents whose `type` is one of \
            the values listed in the Problem schema. Sellers authenticate with a bearer JWT \
            whose `sub` is the seller id.",
    });
    let components = &mut document["components"];
    components["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    });
    components["schemas"]["Problem"] = problem_schema();
    components["schemas"]["FieldError"] = json!({
        "type": "object",
        "required": ["field", "message"],
        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
    });
    let mut rate_limited = problem_response("Too many requests: try again after `Retry-After`");
    rate_limited["headers"] = json!({
        "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}},
        "RateLimit-Policy": {"description": "The limit (IETF RateLimit fields)", "schema": {"type": "string"}},
        "RateLimit": {"description": "What is left of it (IETF RateLimit fields)", "schema": {"type": "string"}},
    });
    let mut unavailable =
        problem_response("A dependency cannot be reached right now: retry after `Retry-After`");
    unavailable["headers"] = json!({
        "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}},
    });
    components["responses"] = json!({
        "Malformed": problem_response("The request cannot be read (body, query or header)"),
        "Unauthorized": problem_response("No token, or a token that is not valid"),
        "RequestTimeout": problem_response("The request, its body included, took too long"),
        "TooLarge": problem_response("The body is larger than the limit"),
        "UnsupportedType": problem_response("The body is not of a type this call takes"),
        "RateLimited": rate_limited,
        "Internal": problem_response("The service failed; it is safe to retry"),
        "Unavailable": unavailable,
    });
    if let Some(webhooks) = description.webhooks {
        let (webhooks, payload) = webhooks();
        document["webhooks"] = webhooks;
        document["components"]["schemas"]["WebhookPayload"] = payload;
    }
    link_created_photos(&mut document);
    document["paths"]["/openapi.json"] = json!({"get": {
        "tags": ["operations"],
        "summary": "This document.",
        "operationId": "getOpenApi",
        "responses": {"200": {
            "description": "The API's OpenAPI 3.1 document",
            "content": {"application/json": {
                "schema": {"type": "object"},
                "example": {"openapi": "3.1.0", "info": {"title": description.title, "version": env!("CARGO_PKG_VERSION")}, "paths": {}},
            }},
        }},
    }});
    if let Some(paths) = document["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let limited = path.starts_with("/v1/");
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for operation in item.values_mut() {
                answers_shared(operation, limited);
            }
        }
    }
    document
}

/// Adds the answers any operation may give where they apply, unless the operation describes
/// them itself: `400` for what it reads (a body, a query, a header), `413` and `415` for a
/// body, `401` where a token is required (where it is optional, one that does not verify is
/// ignored), `408` and `429` on the API's paths, `500` everywhere.
fn answers_shared(operation: &mut Value, api_path: bool) {
    let authenticated = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|schemes| {
            schemes.iter().any(|scheme| scheme.get("bearer").is_some())
                && !schemes
                    .iter()
                    .any(|scheme| scheme.as_object().is_some_and(serde_json::Map::is_empty))
        });
    let has_body = operation.get("requestBody").is_some();
    let reads_parameters = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|parameters| {
            parameters
                .iter()
                .any(|parameter| matches!(parameter["in"].as_str(), Some("query" | "header")))
        });
    let mut shared = vec![];
    if has_body || reads_parameters {
        shared.push(("400", "Malformed"));
    }
    if authenticated {
        shared.push(("401", "Unauthorized"));
    }
    if api_path {
        shared.push(("408", "RequestTimeout"));
    }
    if has_body {
        shared.extend([("413", "TooLarge"), ("415", "UnsupportedType")]);
    }
    if api_path {
        shared.push(("429", "RateLimited"));
    }
    shared.push(("500", "Internal"));
    if api_path {
        // A dependency down (the event store, the read model): `Retry-After` says when to retry.
        shared.push(("503", "Unavailable"));
    }
    let responses = &mut operation["responses"];
    for (status, response) in shared {
        if responses.get(status).is_none() {
            responses[status] = json!({"$ref": format!("#/components/responses/{response}")});
        }
    }
}

/// A problem answer, with its description.
fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    })
}

/// RFC 9457 problem details, with every `type` this service answers with.
fn problem_schema() -> Value {
    let types: Vec<String> = Code::ALL.iter().map(|code| code.type_uri()).collect();
    json!({
        "type": "object",
        "description": format!(
            "An RFC 9457 problem. `type` is `{TYPE_PREFIX}` and a stable code that clients may \
             match on; `detail` says what went wrong for a person to read."
        ),
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "enum": types},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "description": "Every invalid field at once (`invalid` problems)",
                "items": {"$ref": "#/components/schemas/FieldError"},
            },
        },
    })
}
