//! The JSON of events and envelopes is public (the bus, the event store): these tests pin it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeMap;

use catalog_events::{
    EventEnvelope, PhotoEvent, PhotoState, PhotoStatus, Placeholder, UploadRequested, Variant,
    VariantFormat, VariantName, Webhook, WebhookKind,
};
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use uuid::Uuid;

const PHOTO: Uuid = Uuid::from_u128(0x0190_f5a4_7b1e_7cc0_8000_0000_0000_0001);

fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, second).unwrap()
}

fn requested() -> PhotoEvent {
    PhotoEvent::PhotoUploadRequested(UploadRequested {
        occurred_at: at(0),
        photo_id: PHOTO,
        seller_id: "seller-1".into(),
        product_id: "sku-1".into(),
        filename: "shoe.jpg".into(),
        content_type: "image/jpeg".into(),
        size_bytes: 1234,
        checksum_sha256: Some("ab".repeat(32)),
        caption: Some("Red shoe".into()),
        alt_text: None,
        tags: vec!["red".into()],
        callback_url: None,
        object_key: format!("originals/{PHOTO}"),
    })
}

fn variants() -> BTreeMap<VariantName, Variant> {
    VariantName::ALL
        .into_iter()
        .map(|name| {
            let side = name.max_side().min(1000);
            let variant = Variant {
                key: format!("variants/{PHOTO}/{name}.jpg"),
                width: side,
                height: side / 2,
                bytes: u64::from(side) * 10,
                content_type: "image/jpeg".into(),
                formats: BTreeMap::from([(
                    "image/webp".to_owned(),
                    VariantFormat {
                        key: format!("variants/{PHOTO}/{name}.webp"),
                        bytes: u64::from(side) * 7,
                    },
                )]),
            };
            (name, variant)
        })
        .collect()
}

/// One of each event, in an order the aggregate allows.
fn lifecycle() -> Vec<PhotoEvent> {
    vec![
        requested(),
        PhotoEvent::PhotoUploaded {
            occurred_at: at(1),
            size_bytes: 1234,
        },
        PhotoEvent::PhotoProcessingStarted {
            occurred_at: at(2),
            attempt: 1,
        },
        PhotoEvent::PhotoProcessingFailed {
            occurred_at: at(3),
            reason: "the file is not an image".into(),
        },
        PhotoEvent::PhotoReprocessRequested { occurred_at: at(4) },
        PhotoEvent::PhotoProcessingStarted {
            occurred_at: at(5),
            attempt: 2,
        },
        PhotoEvent::PhotoProcessed {
            occurred_at: at(6),
            width: 2000,
            height: 1000,
            variants: variants(),
            placeholder: Some(Placeholder {
                dominant_color: "#a0522d".into(),
                thumbhash: "1QcSHQRnh493V4dIh4eXh1h4kJUI".into(),
            }),
            formats_tried: vec!["image/webp".into()],
        },
        PhotoEvent::PhotoFormatAdded {
            occurred_at: at(7),
            format: "image/avif".into(),
            files: VariantName::ALL
                .into_iter()
                .map(|name| {
                    let file = VariantFormat {
                        key: format!("variants/{PHOTO}/{name}.avif"),
                        bytes: u64::from(name.max_side()) * 5,
                    };
                    (name, file)
                })
                .collect(),
        },
        PhotoEvent::PhotoDetailsUpdated {
            occurred_at: at(7),
            caption: Some(String::new()),
            alt_text: None,
            tags: Some(vec!["blue".into(), "sale".into()]),
        },
        PhotoEvent::PhotoDeleted { occurred_at: at(8) },
    ]
}

/// The wire format of an envelope, pinned (after a deliberate change, write it anew with
/// `CATALOG_UPDATE_FIXTURES=1 cargo test -p catalog-events --test schema`).
#[test]
fn the_envelope_json_matches_the_golden_fixture() {
    let events = lifecycle();
    let state = PhotoState::fold(&events[..7]).unwrap();
    let envelope = EventEnvelope::new(
        PHOTO,
        7,
        events[6].clone(),
        Some("req-1".into()),
        Some(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        ),
        state,
    );
    if std::env::var_os("CATALOG_UPDATE_FIXTURES").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/envelope.json");
        let json = serde_json::to_string_pretty(&envelope).unwrap();
        std::fs::write(path, json + "\n").unwrap();
        return;
    }
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/envelope.json")).unwrap();
    assert_eq!(serde_json::to_value(&envelope).unwrap(), golden);
    let read_back: EventEnvelope = serde_json::from_value(golden).unwrap();
    assert_eq!(read_back, envelope);
}

#[test]
fn the_fold_walks_the_whole_lifecycle() {
    let events = lifecycle();
    let mut state = None;
    let mut statuses = Vec::new();
    for event in &events {
        PhotoState::apply(&mut state, event);
        statuses.push(state.as_ref().unwrap().status);
    }
    use PhotoStatus::*;
    assert_eq!(
        statuses,
        [
            PendingUpload,
            Uploaded,
            Processing,
            Failed,
            Uploaded,
            Processing,
            Ready,
            Ready,
            Ready,
            Deleted
        ]
    );
    let state = state.unwrap();
    assert_eq!(state.version, 10);
    let large = &state.variants[&VariantName::Large];
    let formats: Vec<&str> = large.formats.keys().map(String::as_str).collect();
    assert_eq!(
        formats,
        ["image/avif", "image/webp"],
        "the AVIF joins the WebP"
    );
    assert_eq!(
        large.formats["image/avif"].key,
        format!("variants/{PHOTO}/large.avif")
    );
    assert_eq!(state.caption, None, "an empty caption clears it");
    assert_eq!(state.tags, ["blue", "sale"]);
    assert_eq!(state.processing_attempts, 2);
    assert_eq!(state.failure_reason, None);
    assert_eq!((state.width, state.height), (Some(2000), Some(1000)));
    assert_eq!(state.created_at, at(0));
    assert_eq!(state.updated_at, at(8));
}

#[test]
fn events_before_creation_change_nothing() {
    let mut state = None;
    PhotoState::apply(&mut state, &PhotoEvent::PhotoDeleted { occurred_at: at(1) });
    assert_eq!(state, None);
}

#[test]
fn an_unknown_field_in_a_stored_event_is_an_error_not_silently_dropped() {
    let mut json = serde_json::to_value(requested()).unwrap();
    json["surprise"] = serde_json::json!(1);
    assert!(serde_json::from_value::<PhotoEvent>(json).is_err());
}

proptest! {
    #[test]
    fn every_event_round_trips_through_its_stored_form(index in 0usize..10, version in 1u64..1000) {
        let event = lifecycle()[index].clone();
        let stored = serde_json::to_value(&event).unwrap();
        prop_assert_eq!(stored["type"].as_str(), Some(event.event_type()));
        let decoded = catalog_events::upcast::decode(event.event_type(), event.event_version(), stored).unwrap();
        prop_assert_eq!(&decoded, &event);
        let state = PhotoState::fold(&lifecycle()[..=index]).unwrap();
        let envelope = EventEnvelope::new(PHOTO, version, event, None, None, state);
        let json = serde_json::to_string(&envelope).unwrap();
        prop_assert_eq!(serde_json::from_str::<EventEnvelope>(&json).unwrap(), envelope);
    }
}

#[test]
fn a_state_written_before_webhooks_existed_still_reads() {
    let mut golden: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/envelope.json")).unwrap();
    golden["state"]
        .as_object_mut()
        .unwrap()
        .remove("notified_through");
    let read_back: EventEnvelope = serde_json::from_value(golden).unwrap();
    assert_eq!(read_back.state.notified_through, 0);
}

#[test]
fn a_webhook_outcome_advances_the_version_but_does_not_change_the_photo() {
    let events = lifecycle();
    let ready = PhotoState::fold(&events[..7]).unwrap();
    let mut state = Some(ready.clone());
    let webhook = Webhook {
        id: "msg_1".into(),
        kind: WebhookKind::PhotoReady,
        for_sequence: 7,
    };
    PhotoState::apply(
        &mut state,
        &PhotoEvent::PhotoWebhookDelivered {
            occurred_at: at(20),
            webhook,
            attempts: 1,
            status: 204,
        },
    );
    let after = state.unwrap();
    assert_eq!(after.version, ready.version + 1);
    assert_eq!(after.notified_through, 7);
    assert_eq!(after.updated_at, ready.updated_at);
    assert_eq!(after.status, ready.status);
}

/// A ready photo awaits its AVIF until the format is settled, with files or with none; a
/// request for it changes nothing a client sees.
#[test]
fn a_ready_photo_lacks_its_avif_until_the_format_is_settled() {
    let events = lifecycle();
    let ready = PhotoState::fold(&events[..7]).unwrap();
    assert!(ready.lacks("image/avif"));
    assert!(!ready.lacks("image/webp"));
    let mut state = Some(ready.clone());
    PhotoState::apply(
        &mut state,
        &PhotoEvent::PhotoFormatsRequested {
            occurred_at: at(20),
            formats: vec!["image/avif".into()],
        },
    );
    let requested = state.clone().unwrap();
    assert_eq!(requested.version, ready.version + 1);
    assert_eq!(requested.updated_at, ready.updated_at);
    assert!(requested.lacks("image/avif"));
    PhotoState::apply(
        &mut state,
        &PhotoEvent::PhotoFormatAdded {
            occurred_at: at(21),
            format: "image/avif".into(),
            files: BTreeMap::new(),
        },
    );
    let settled = state.unwrap();
    assert!(!settled.lacks("image/avif"));
    assert!(
        settled
            .variants
            .values()
            .all(|v| !v.formats.contains_key("image/avif"))
    );
    // A render stored before formats were settled lacks both.
    let mut old = ready;
    old.formats_tried.clear();
    assert!(old.lacks("image/webp") && old.lacks("image/avif"));
}
