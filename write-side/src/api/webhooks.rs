//! The webhooks the service sends, as the write API's OpenAPI document describes them (its
//! `webhooks` section, OpenAPI 3.1): a seller's receiver is written against these, as a client
//! is against the paths. The notifier (`catalog-notifier`) sends them; `API.md` "Webhooks" says
//! when, and how they are retried and replayed.

use catalog_events::view::PhotoView;
use serde_json::{Value, json};

/// The `webhooks` section and the schema of their body.
pub fn document() -> (Value, Value) {
    let headers = json!([
        {"name": "webhook-id", "in": "header", "required": true,
         "description": "The webhook's id: the same on every retry and replay, so a receiver drops what it already had",
         "schema": {"type": "string"}, "example": "msg_5f0c9e2a7b4d4c3e8a1f2b3c4d5e6f70"},
        {"name": "webhook-timestamp", "in": "header", "required": true,
         "description": "When this attempt was signed, in seconds since 1970 (refuse ones far from now)",
         "schema": {"type": "integer"}, "example": 1_764_494_000},
        {"name": "webhook-signature", "in": "header", "required": true,
         "description": "`v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{body}\">`, keyed by the seller's webhook secret (`POST /v1/webhook-secret`); during a rotation both secrets sign, space-separated (Standard Webhooks)",
         "schema": {"type": "string"}, "example": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="},
    ]);
    let hook = |kind: &str, summary: &str, description: &str| {
        let mut photo = PhotoView::example();
        if kind == "photo.failed" {
            photo["status"] = json!("failed");
            photo["failure_reason"] = json!("the file is not an image this service can read");
            for field in ["width", "height"] {
                photo[field] = Value::Null;
            }
            photo["variants"] = json!({});
            photo["srcset"] = json!({});
            photo["placeholder"] = Value::Null;
        }
        json!({"post": {
            "tags": ["webhooks"],
            "summary": summary,
            "description": description,
            "operationId": if kind == "photo.ready" { "photoReady" } else { "photoFailed" },
            "parameters": headers,
            "requestBody": {
                "required": true,
                "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/WebhookPayload"},
                    "example": {"type": kind, "photo": photo},
                }},
            },
            "responses": {
                "2XX": {"description": "Received: the webhook is not sent again"},
                "default": {"description": "Any other answer, a timeout or a refused connection: sent again with the same `webhook-id`, backing off from 30 s to an hour, for up to 6 hours"},
            },
        }})
    };
    let webhooks = json!({
        "photoReady": hook(
            "photo.ready",
            "A photo became ready",
            "POSTed to the photo's `callback_url` when it is ready to be shown: its first render, a reprocess or a replaced original rendered.",
        ),
        "photoFailed": hook(
            "photo.failed",
            "A photo could not be processed",
            "POSTed to the photo's `callback_url` when its file could not be made into variants; `failure_reason` says why, for the seller.",
        ),
    });
    let payload = json!({
        "type": "object",
        "description": "The body of a webhook: what happened, and the photo right after it.",
        "required": ["type", "photo"],
        "properties": {
            "type": {"type": "string", "enum": ["photo.ready", "photo.failed"]},
            "photo": {"$ref": "#/components/schemas/PhotoView"},
        },
    });
    (webhooks, payload)
}
