//! `POST /v1/webhooks/replay` and `GET /v1/webhooks/replays/{id}`: a seller whose endpoint
//! missed webhooks asks for every `photo.ready` and `photo.failed` since a moment to be sent
//! again (with their original `webhook-id`s, so the receiver drops those it had), and follows
//! the replay's progress. The notifier sends them ([`catalog_event_store::webhook_replays`]).
//! A seller has one replay running at a time, reaching back at most [`MAX_BACK_DAYS`] days.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use catalog_event_store::webhook_replays::{self, Replay, StartError};
use catalog_event_store::webhook_secrets;
use catalog_http::Problem;
use catalog_http::auth::Seller;
use catalog_http::problem::{Code, FieldError};

use super::{AppState, database_problem};

/// How far back a replay may reach: as long as the notifier goes on retrying a webhook.
pub const MAX_BACK_DAYS: i64 = 7;

/// `POST /v1/webhooks/replay`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"since": "2026-11-29T02:00:00Z"}))]
pub struct ReplayRequest {
    /// Webhooks of state changes from this moment on are sent again (RFC 3339, at most 7 days
    /// ago).
    #[schema(value_type = String, format = DateTime)]
    pub since: DateTime<Utc>,
}

/// Whether a replay is still sending.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplayStatus {
    Running,
    Done,
}

/// A replay of the seller's webhooks, and how far it got.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "replay_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "since": "2026-11-29T02:00:00Z",
    "requested_at": "2026-11-29T09:05:12Z", "status": "done", "found": 42, "delivered": 41,
    "failed": 1, "finished_at": "2026-11-29T09:05:40Z"
}))]
pub struct ReplayView {
    pub replay_id: Uuid,
    pub since: DateTime<Utc>,
    /// When it was asked for: webhooks of changes after it were sent as they happened.
    pub requested_at: DateTime<Utc>,
    pub status: ReplayStatus,
    /// Webhooks found to send again so far, those delivered, and those not delivered after
    /// a few attempts.
    pub found: u32,
    pub delivered: u32,
    pub failed: u32,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Replay> for ReplayView {
    fn from(replay: Replay) -> Self {
        let count = |n: i32| u32::try_from(n).unwrap_or(0);
        Self {
            replay_id: replay.replay_id,
            since: replay.since,
            requested_at: replay.created_at,
            status: if replay.finished_at.is_some() {
                ReplayStatus::Done
            } else {
                ReplayStatus::Running
            },
            found: count(replay.found),
            delivered: count(replay.delivered),
            failed: count(replay.failed),
            finished_at: replay.finished_at,
        }
    }
}

/// Send again every `photo.ready` and `photo.failed` of the seller's photos since a moment.
#[utoipa::path(
    operation_id = "replayWebhooks",
    tag = "webhooks",
    security(("bearer" = [])),
    request_body = ReplayRequest,
    responses(
        (status = ACCEPTED, description = "The replay is running", body = ReplayView, headers(("Location" = String, description = "Where its progress is read"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A replay of the seller's is running (its id in the detail)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`since` in the future or more than 7 days ago, or the seller has no webhook secret", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/webhooks/replay")]
pub async fn start_replay(
    state: web::Data<AppState>,
    seller: Seller,
    body: web::Json<ReplayRequest>,
) -> Result<HttpResponse, Problem> {
    let since = body.since;
    let now = Utc::now();
    if since > now || since < now - chrono::Duration::days(MAX_BACK_DAYS) {
        return Err(Problem::invalid(vec![FieldError::new(
            "since",
            format!("must be within the last {MAX_BACK_DAYS} days"),
        )]));
    }
    let pool = state.store.pool();
    let signs = webhook_secrets::exists(pool, &seller.0)
        .await
        .map_err(|error| Problem::internal(&error))?;
    if !signs {
        return Err(Problem::invalid(vec![FieldError::new(
            "since",
            "no webhook secret to sign with: POST /v1/webhook-secret first",
        )]));
    }
    match webhook_replays::start(pool, &seller.0, since).await {
        Ok(replay) => {
            let location = format!("/v1/webhooks/replays/{}", replay.replay_id);
            Ok(HttpResponse::Accepted()
                .insert_header(("Location", location))
                .json(ReplayView::from(replay)))
        }
        Err(StartError::Running(running)) => Err(Problem::new(
            Code::Conflict,
            format!(
                "replay {} is running; read its progress at /v1/webhooks/replays/{}",
                running.replay_id, running.replay_id
            ),
        )),
        Err(StartError::Database(error)) => Err(database_problem(&error)),
    }
}

/// A replay's progress.
#[utoipa::path(
    operation_id = "getWebhookReplay",
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The replay's id")),
    responses(
        (status = OK, description = "The replay, as far as it got", body = ReplayView),
        (status = 404, description = "No such replay, or another seller's", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/webhooks/replays/{id}")]
pub async fn progress(
    state: web::Data<AppState>,
    seller: Seller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let not_found = || Problem::new(Code::NotFound, "no such replay");
    let replay_id = Uuid::parse_str(&path).map_err(|_| not_found())?;
    let replay = webhook_replays::get(state.store.pool(), &seller.0, replay_id)
        .await
        .map_err(|error| database_problem(&error))?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(ReplayView::from(replay)))
}
