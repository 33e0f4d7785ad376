//! `catalog trace PHOTO_ID`: a photo's journey as a waterfall in the terminal, built from what
//! the event store and the read model already hold: each event with when it was appended and
//! when the relay put it on the bus, the render's stages (kept with the event of a ready
//! photo), each webhook's outcome and attempts, and when the read model last took the photo.
//!
//! The trace id it prints is the one every part logs with the photo, to find the rest.

use std::fmt::Write as _;

use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;
use catalog_events::{AGGREGATE_TYPE, TraceParent};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// Columns of the waterfall's bars.
const WIDTH: usize = 48;

/// One stored event, as the journey shows it.
#[derive(Debug, Clone)]
pub struct Step {
    pub sequence: i64,
    pub event_type: String,
    pub appended: DateTime<Utc>,
    pub published: Option<DateTime<Utc>>,
    pub traceparent: Option<TraceParent>,
    /// What the payload says worth showing (a webhook's attempts and status).
    pub note: Option<String>,
    /// A render's stages, in milliseconds, in the order they ran.
    pub stages: Vec<(String, u64)>,
}

/// A photo's journey.
#[derive(Debug, Clone)]
pub struct Journey {
    pub photo: Uuid,
    pub steps: Vec<Step>,
    /// When the read model last took the photo, and at which version.
    pub projected: Option<(DateTime<Utc>, u64)>,
}

/// Reads the photo's events and its read-model item.
pub async fn load(
    pool: &PgPool,
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    photo: Uuid,
) -> anyhow::Result<Journey> {
    type Row = (
        i64,
        String,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        Value,
        Value,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT sequence, event_type, recorded_at, published_at, payload, metadata \
         FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence",
    )
    .bind(AGGREGATE_TYPE)
    .bind(photo.to_string())
    .fetch_all(pool)
    .await
    .context("reading the photo's events")?;
    anyhow::ensure!(!rows.is_empty(), "no photo {photo} in the event store");
    let steps = rows
        .into_iter()
        .map(
            |(sequence, event_type, appended, published, payload, metadata)| Step {
                note: note(&event_type, &payload),
                stages: stages(&metadata),
                traceparent: metadata["traceparent"]
                    .as_str()
                    .and_then(|t| t.parse().ok()),
                sequence,
                event_type,
                appended,
                published,
            },
        )
        .collect();
    let item = dynamodb
        .get_item()
        .table_name(table)
        .key(
            catalog_read_model::PHOTO_ID,
            AttributeValue::S(photo.to_string()),
        )
        .send()
        .await
        .context("reading the photo's read-model item")?
        .item;
    let projected = item.and_then(|item| {
        let at = item.get(catalog_read_model::PROJECTED_AT)?.as_s().ok()?;
        let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
        Some((at, catalog_read_model::version(&item)?))
    });
    Ok(Journey {
        photo,
        steps,
        projected,
    })
}

fn note(event_type: &str, payload: &Value) -> Option<String> {
    match event_type {
        "PhotoWebhookDelivered" => Some(format!(
            "{} after {} attempt(s), answered {}",
            payload["webhook"]["type"].as_str().unwrap_or("webhook"),
            payload["attempts"],
            payload["status"]
        )),
        "PhotoWebhookGaveUp" => Some(format!(
            "{} given up after {} attempt(s): {}",
            payload["webhook"]["type"].as_str().unwrap_or("webhook"),
            payload["attempts"],
            payload["reason"].as_str().unwrap_or_default()
        )),
        "PhotoProcessingFailed" => payload["reason"].as_str().map(str::to_owned),
        _ => None,
    }
}

/// The render's stages kept with an event, in the order they run.
fn stages(metadata: &Value) -> Vec<(String, u64)> {
    let Some(kept) = metadata["details"]["stages_ms"].as_object() else {
        return Vec::new();
    };
    ["download", "decode", "resize", "choose", "encode", "store"]
        .into_iter()
        .filter_map(|stage| Some((stage.to_owned(), kept.get(stage)?.as_u64()?)))
        .collect()
}

impl Journey {
    /// The waterfall: a line per event (appended, then on the bus), the render's stages under
    /// the event they led to, and the read model's last write.
    pub fn render(&self) -> String {
        let start = self
            .steps
            .first()
            .map_or_else(Utc::now, |step| step.appended);
        let end = self
            .steps
            .iter()
            .flat_map(|step| [Some(step.appended), step.published])
            .chain([self.projected.map(|(at, _)| at)])
            .flatten()
            .max()
            .unwrap_or(start);
        let span_ms = (end - start).num_milliseconds().max(1);
        let column = |at: DateTime<Utc>| {
            let offset = (at - start).num_milliseconds().clamp(0, span_ms);
            usize::try_from(offset * (WIDTH as i64 - 1) / span_ms).unwrap_or(0)
        };
        let bar = |from: DateTime<Utc>, to: DateTime<Utc>| {
            let (a, b) = (column(from), column(to).max(column(from)));
            format!(
                "{}{}{}",
                " ".repeat(a),
                "█".repeat(b - a + 1),
                " ".repeat(WIDTH - 1 - b)
            )
        };
        let offset = |at: DateTime<Utc>| (at - start).num_milliseconds() as f64 / 1000.0;
        let mut out = String::new();
        let traces: Vec<String> = self
            .steps
            .iter()
            .filter_map(|step| step.traceparent.map(|trace| trace.trace_id()))
            .fold(Vec::new(), |mut seen, id| {
                if !seen.contains(&id) {
                    seen.push(id);
                }
                seen
            });
        let _ = writeln!(out, "photo {}", self.photo);
        let _ = writeln!(
            out,
            "trace {}",
            if traces.is_empty() {
                "(none kept)".to_owned()
            } else {
                traces.join(", ")
            }
        );
        let _ = writeln!(out, "{:>10}  what", "at");
        for step in &self.steps {
            let published = step.published.map_or_else(
                || "not yet on the bus".to_owned(),
                |at| format!("on the bus +{} ms", (at - step.appended).num_milliseconds()),
            );
            let what = format!("#{} {}", step.sequence, step.event_type);
            let _ = writeln!(
                out,
                "{:>9.3}s  {what:<44} {}  appended, {published}",
                offset(step.appended),
                bar(step.appended, step.published.unwrap_or(step.appended)),
            );
            // The stages ran before the event that recorded them, one after the other.
            let total: u64 = step.stages.iter().map(|(_, ms)| ms).sum();
            let mut at = step.appended - chrono::Duration::milliseconds(total as i64);
            for (stage, ms) in &step.stages {
                let until = at + chrono::Duration::milliseconds(*ms as i64);
                let _ = writeln!(
                    out,
                    "{:>9.3}s    {:<42} {}  {ms} ms",
                    offset(at),
                    format!("render: {stage}"),
                    bar(at, until)
                );
                at = until;
            }
            if let Some(note) = &step.note {
                let _ = writeln!(out, "{:>10}    {note}", "");
            }
        }
        match self.projected {
            Some((at, version)) => {
                let _ = writeln!(
                    out,
                    "{:>9.3}s  {:<44} {}  read model at version {version}",
                    offset(at),
                    "projected",
                    bar(at, at)
                );
            }
            None => {
                let _ = writeln!(out, "{:>10}  not in the read model", "");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_760_000_000_000 + ms).unwrap()
    }

    #[test]
    fn the_waterfall_shows_events_stages_webhooks_and_the_projection() {
        let trace: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap();
        let step = |sequence, event_type: &str, appended, published: Option<i64>| Step {
            sequence,
            event_type: event_type.into(),
            appended: at(appended),
            published: published.map(at),
            traceparent: Some(trace),
            note: None,
            stages: Vec::new(),
        };
        let mut processed = step(4, "PhotoProcessed", 900, Some(930));
        processed.stages = vec![("download".into(), 100), ("encode".into(), 300)];
        let mut webhook = step(5, "PhotoWebhookDelivered", 1000, None);
        webhook.note = note(
            "PhotoWebhookDelivered",
            &serde_json::json!({"webhook": {"type": "photo.ready"}, "attempts": 2, "status": 200}),
        );
        let journey = Journey {
            photo: Uuid::nil(),
            steps: vec![
                step(1, "PhotoUploadRequested", 0, Some(20)),
                step(2, "PhotoUploaded", 300, Some(310)),
                step(3, "PhotoProcessingStarted", 400, Some(420)),
                processed,
                webhook,
            ],
            projected: Some((at(960), 4)),
        };
        let text = journey.render();
        assert!(
            text.contains("trace 4bf92f3577b34da6a3ce929d0e0e4736"),
            "{text}"
        );
        assert!(text.contains("#1 PhotoUploadRequested"), "{text}");
        assert!(text.contains("on the bus +20 ms"), "{text}");
        assert!(text.contains("render: download"), "{text}");
        assert!(text.contains("render: encode"), "{text}");
        assert!(
            text.contains("photo.ready after 2 attempt(s), answered 200"),
            "{text}"
        );
        assert!(text.contains("not yet on the bus"), "{text}");
        assert!(text.contains("read model at version 4"), "{text}");
        // The stages end where the event that kept them was appended.
        let encode = text
            .lines()
            .find(|line| line.contains("render: encode"))
            .unwrap();
        assert!(encode.trim_start().starts_with("0.600s"), "{encode}");
    }
}
