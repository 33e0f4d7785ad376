//! Given/when/then tests of every command in every state.

use super::*;
use catalog_events::PhotoEvent::*;
use catalog_events::{Webhook, WebhookKind};
use chrono::{TimeDelta, TimeZone};
use cqrs_es::test::TestFramework;
use uuid::Uuid;

type PhotoTest = TestFramework<Photo>;

const SELLER: &str = "seller-1";
const OTHER: &str = "seller-2";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 6, 7, 8, 9).unwrap()
}

fn test() -> PhotoTest {
    PhotoTest::with(PhotoServices::with_clock(now))
}

fn request() -> UploadRequested {
    UploadRequested {
        occurred_at: now(),
        photo_id: Uuid::from_u128(7),
        seller_id: SELLER.into(),
        product_id: "sku-1".into(),
        filename: "shoe.jpg".into(),
        content_type: "image/jpeg".into(),
        size_bytes: 1000,
        checksum_sha256: None,
        caption: Some("A shoe".into()),
        alt_text: None,
        tags: vec!["red".into()],
        callback_url: None,
        object_key: "originals/7".into(),
    }
}

fn variants() -> BTreeMap<VariantName, Variant> {
    let variant = |name: &str, width: u32, height: u32, bytes: u64| Variant {
        key: format!("variants/7/{name}.jpg"),
        width,
        height,
        bytes,
        content_type: "image/jpeg".into(),
        formats: BTreeMap::new(),
    };
    BTreeMap::from([
        (VariantName::Thumb, variant("thumb", 150, 100, 4000)),
        (VariantName::Large, variant("large", 1600, 1067, 180_000)),
    ])
}

fn requested() -> Fact {
    Fact(PhotoUploadRequested(request()))
}
fn uploaded() -> Fact {
    Fact(PhotoUploaded {
        occurred_at: now(),
        size_bytes: 1000,
    })
}
fn started(attempt: u32) -> Fact {
    Fact(PhotoProcessingStarted {
        occurred_at: now(),
        attempt,
    })
}
fn processed() -> Fact {
    Fact(PhotoProcessed {
        occurred_at: now(),
        width: 300,
        height: 200,
        variants: variants(),
        placeholder: None,
        formats_tried: vec!["image/webp".into()],
    })
}
fn failed() -> Fact {
    Fact(PhotoProcessingFailed {
        occurred_at: now(),
        reason: "the file is not an image".into(),
    })
}
fn deleted() -> Fact {
    Fact(PhotoDeleted { occurred_at: now() })
}
fn reprocess_requested() -> Fact {
    Fact(PhotoReprocessRequested { occurred_at: now() })
}

/// The events that bring a photo to each status.
fn history(status: PhotoStatus) -> Vec<Fact> {
    use PhotoStatus::*;
    match status {
        PendingUpload => vec![requested()],
        Uploaded => vec![requested(), uploaded()],
        Processing => vec![requested(), uploaded(), started(1)],
        Ready => vec![requested(), uploaded(), started(1), processed()],
        Failed => vec![requested(), uploaded(), started(1), failed()],
        Deleted => vec![requested(), deleted()],
    }
}

fn not_allowed(action: &'static str, status: PhotoStatus) -> PhotoError {
    PhotoError::NotAllowed { action, status }
}

#[test]
fn a_new_photo_is_requested_at_the_services_time() {
    let mut stale = request();
    stale.occurred_at = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    test()
        .given_no_previous_events()
        .when(PhotoCommand::RequestUpload(stale))
        .then_expect_events(vec![requested()]);
}

#[test]
fn a_photo_cannot_be_requested_twice() {
    test()
        .given(vec![requested()])
        .when(PhotoCommand::RequestUpload(request()))
        .then_expect_error(PhotoError::AlreadyExists);
}

#[test]
fn a_direct_upload_records_the_request_and_the_upload_at_once() {
    test()
        .given_no_previous_events()
        .when(PhotoCommand::RecordUpload {
            request: request(),
            stored_size: 1000,
        })
        .then_expect_events(vec![requested(), uploaded()]);
}

#[test]
fn a_direct_upload_of_an_existing_photo_is_refused() {
    test()
        .given(vec![requested()])
        .when(PhotoCommand::RecordUpload {
            request: request(),
            stored_size: 1000,
        })
        .then_expect_error(PhotoError::AlreadyExists);
}

#[test]
fn confirming_the_upload_with_the_declared_size_uploads_the_photo() {
    test()
        .given(history(PhotoStatus::PendingUpload))
        .when(PhotoCommand::ConfirmUpload {
            seller_id: SELLER.into(),
            stored_size: 1000,
        })
        .then_expect_events(vec![uploaded()]);
}

#[test]
fn confirming_an_upload_of_another_size_is_refused() {
    test()
        .given(history(PhotoStatus::PendingUpload))
        .when(PhotoCommand::ConfirmUpload {
            seller_id: SELLER.into(),
            stored_size: 999,
        })
        .then_expect_error(PhotoError::SizeMismatch {
            declared: 1000,
            stored: 999,
        });
}

#[test]
fn confirming_an_upload_again_changes_nothing() {
    for status in [
        PhotoStatus::Uploaded,
        PhotoStatus::Processing,
        PhotoStatus::Ready,
        PhotoStatus::Failed,
    ] {
        test()
            .given(history(status))
            .when(PhotoCommand::ConfirmUpload {
                seller_id: SELLER.into(),
                stored_size: 1000,
            })
            .then_expect_events(vec![]);
    }
}

#[test]
fn processing_starts_on_an_uploaded_photo_and_counts_attempts() {
    test()
        .given(history(PhotoStatus::Uploaded))
        .when(PhotoCommand::StartProcessing)
        .then_expect_events(vec![started(1)]);
    let mut reprocessed = history(PhotoStatus::Failed);
    reprocessed.push(reprocess_requested());
    test()
        .given(reprocessed)
        .when(PhotoCommand::StartProcessing)
        .then_expect_events(vec![started(2)]);
}

#[test]
fn a_redelivered_processing_start_changes_nothing() {
    test()
        .given(history(PhotoStatus::Processing))
        .when(PhotoCommand::StartProcessing)
        .then_expect_events(vec![]);
}

#[test]
fn completing_processing_makes_the_photo_ready() {
    test()
        .given(history(PhotoStatus::Processing))
        .when(PhotoCommand::CompleteProcessing {
            width: 300,
            height: 200,
            variants: variants(),
            placeholder: None,
            formats_tried: vec!["image/webp".into()],
        })
        .then_expect_events(vec![processed()]);
}

#[test]
fn failing_processing_records_the_reason() {
    for status in [PhotoStatus::Uploaded, PhotoStatus::Processing] {
        test()
            .given(history(status))
            .when(PhotoCommand::FailProcessing {
                reason: "the file is not an image".into(),
            })
            .then_expect_events(vec![failed()]);
    }
}

#[test]
fn updating_details_records_only_what_changed() {
    test()
        .given(history(PhotoStatus::Ready))
        .when(PhotoCommand::UpdateDetails {
            seller_id: SELLER.into(),
            caption: Some("A shoe".into()),
            alt_text: None,
            tags: Some(vec!["blue".into()]),
        })
        .then_expect_events(vec![Fact(PhotoDetailsUpdated {
            occurred_at: now(),
            caption: None,
            alt_text: None,
            tags: Some(vec!["blue".into()]),
        })]);
}

#[test]
fn an_alt_text_is_set_and_cleared_with_an_empty_one() {
    let set = || PhotoCommand::UpdateDetails {
        seller_id: SELLER.into(),
        caption: None,
        alt_text: Some("A red shoe seen from the side".into()),
        tags: None,
    };
    test()
        .given(history(PhotoStatus::Ready))
        .when(set())
        .then_expect_events(vec![Fact(PhotoDetailsUpdated {
            occurred_at: now(),
            caption: None,
            alt_text: Some("A red shoe seen from the side".into()),
            tags: None,
        })]);
    let mut photo = Photo::default();
    for fact in history(PhotoStatus::Ready) {
        photo.apply(fact);
    }
    let set_event = PhotoDetailsUpdated {
        occurred_at: now(),
        caption: None,
        alt_text: Some("A red shoe".into()),
        tags: None,
    };
    photo.apply(Fact(set_event));
    assert_eq!(
        photo.state().unwrap().alt_text.as_deref(),
        Some("A red shoe")
    );
    photo.apply(Fact(PhotoDetailsUpdated {
        occurred_at: now(),
        caption: None,
        alt_text: Some(String::new()),
        tags: None,
    }));
    assert_eq!(photo.state().unwrap().alt_text, None);
}

fn place(seller: &str, product: &str, position: u32) -> PhotoCommand {
    PhotoCommand::Place {
        seller_id: seller.into(),
        product_id: product.into(),
        position,
    }
}

#[test]
fn placing_a_photo_in_its_gallery_records_the_position_once() {
    for status in [
        PhotoStatus::PendingUpload,
        PhotoStatus::Ready,
        PhotoStatus::Failed,
    ] {
        test()
            .given(history(status))
            .when(place(SELLER, "sku-1", 2))
            .then_expect_events(vec![Fact(PhotoReordered {
                occurred_at: now(),
                position: 2,
            })]);
    }
    let mut placed = history(PhotoStatus::Ready);
    placed.push(Fact(PhotoReordered {
        occurred_at: now(),
        position: 2,
    }));
    test()
        .given(placed)
        .when(place(SELLER, "sku-1", 2))
        .then_expect_events(vec![]);
}

#[test]
fn a_photo_is_placed_only_in_its_own_product_by_its_seller_and_not_once_deleted() {
    test()
        .given(history(PhotoStatus::Ready))
        .when(place(SELLER, "sku-2", 1))
        .then_expect_error(PhotoError::NotInProduct("sku-2".into()));
    test()
        .given(history(PhotoStatus::Ready))
        .when(place(OTHER, "sku-1", 1))
        .then_expect_error(PhotoError::NotFound);
    test()
        .given(history(PhotoStatus::Deleted))
        .when(place(SELLER, "sku-1", 1))
        .then_expect_error(not_allowed("reorder", PhotoStatus::Deleted));
}

#[test]
fn an_update_that_changes_nothing_appends_nothing() {
    test()
        .given(history(PhotoStatus::PendingUpload))
        .when(PhotoCommand::UpdateDetails {
            seller_id: SELLER.into(),
            caption: Some("A shoe".into()),
            alt_text: None,
            tags: Some(vec!["red".into()]),
        })
        .then_expect_events(vec![]);
}

#[test]
fn any_live_photo_can_be_deleted_once() {
    for status in [
        PhotoStatus::PendingUpload,
        PhotoStatus::Uploaded,
        PhotoStatus::Processing,
        PhotoStatus::Ready,
        PhotoStatus::Failed,
    ] {
        test()
            .given(history(status))
            .when(PhotoCommand::Delete {
                seller_id: SELLER.into(),
            })
            .then_expect_events(vec![deleted()]);
    }
    test()
        .given(history(PhotoStatus::Deleted))
        .when(PhotoCommand::Delete {
            seller_id: SELLER.into(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn ready_and_failed_photos_can_be_reprocessed() {
    for status in [PhotoStatus::Ready, PhotoStatus::Failed] {
        test()
            .given(history(status))
            .when(PhotoCommand::RequestReprocess {
                seller_id: SELLER.into(),
            })
            .then_expect_events(vec![reprocess_requested()]);
    }
}

#[test]
fn a_photo_stuck_in_uploaded_or_processing_can_be_reprocessed_after_an_hour() {
    let at = |ago: TimeDelta| now() - ago;
    let stuck_since = |since: DateTime<Utc>| {
        vec![
            requested(),
            Fact(PhotoUploaded {
                occurred_at: since,
                size_bytes: 1000,
            }),
            Fact(PhotoProcessingStarted {
                occurred_at: since,
                attempt: 1,
            }),
        ]
    };
    let reprocess = || PhotoCommand::RequestReprocess {
        seller_id: SELLER.into(),
    };
    test()
        .given(stuck_since(at(STUCK_AFTER)))
        .when(reprocess())
        .then_expect_events(vec![reprocess_requested()]);
    test()
        .given(stuck_since(at(STUCK_AFTER - TimeDelta::seconds(1))))
        .when(reprocess())
        .then_expect_error(not_allowed("reprocess", PhotoStatus::Processing));
    // Edited since (a caption): the photo is still as stuck as it was.
    let mut edited = stuck_since(at(STUCK_AFTER * 2));
    edited.push(Fact(PhotoDetailsUpdated {
        occurred_at: now(),
        caption: Some("new".into()),
        alt_text: None,
        tags: None,
    }));
    test()
        .given(edited)
        .when(reprocess())
        .then_expect_events(vec![reprocess_requested()]);
    let uploaded_long_ago = stuck_since(at(STUCK_AFTER))[..2].to_vec();
    test()
        .given(uploaded_long_ago)
        .when(reprocess())
        .then_expect_events(vec![reprocess_requested()]);
}

/// Every command refused in every state where it is not allowed, with its reason.
#[test]
fn commands_not_allowed_in_a_state_are_refused_with_the_reason() {
    use PhotoStatus::*;
    let seller = || SELLER.to_owned();
    let cases: Vec<(PhotoStatus, PhotoCommand, PhotoError)> = vec![
        (
            Deleted,
            PhotoCommand::ConfirmUpload {
                seller_id: seller(),
                stored_size: 1000,
            },
            not_allowed("confirm the upload of", Deleted),
        ),
        (
            PendingUpload,
            PhotoCommand::StartProcessing,
            not_allowed("start processing", PendingUpload),
        ),
        (
            Ready,
            PhotoCommand::StartProcessing,
            not_allowed("start processing", Ready),
        ),
        (
            Failed,
            PhotoCommand::StartProcessing,
            not_allowed("start processing", Failed),
        ),
        (
            Deleted,
            PhotoCommand::StartProcessing,
            not_allowed("start processing", Deleted),
        ),
        (
            PendingUpload,
            complete(),
            not_allowed("complete processing of", PendingUpload),
        ),
        (
            Uploaded,
            complete(),
            not_allowed("complete processing of", Uploaded),
        ),
        (
            Ready,
            complete(),
            not_allowed("complete processing of", Ready),
        ),
        (
            Failed,
            complete(),
            not_allowed("complete processing of", Failed),
        ),
        (
            Deleted,
            complete(),
            not_allowed("complete processing of", Deleted),
        ),
        (
            PendingUpload,
            fail(),
            not_allowed("fail processing of", PendingUpload),
        ),
        (Ready, fail(), not_allowed("fail processing of", Ready)),
        (Failed, fail(), not_allowed("fail processing of", Failed)),
        (Deleted, fail(), not_allowed("fail processing of", Deleted)),
        (
            Deleted,
            PhotoCommand::UpdateDetails {
                seller_id: seller(),
                caption: Some("x".into()),
                alt_text: None,
                tags: None,
            },
            not_allowed("update", Deleted),
        ),
        (
            PendingUpload,
            PhotoCommand::RequestReprocess {
                seller_id: seller(),
            },
            not_allowed("reprocess", PendingUpload),
        ),
        (
            Uploaded,
            PhotoCommand::RequestReprocess {
                seller_id: seller(),
            },
            not_allowed("reprocess", Uploaded),
        ),
        (
            Processing,
            PhotoCommand::RequestReprocess {
                seller_id: seller(),
            },
            not_allowed("reprocess", Processing),
        ),
        (
            Deleted,
            PhotoCommand::RequestReprocess {
                seller_id: seller(),
            },
            not_allowed("reprocess", Deleted),
        ),
    ];
    for (status, command, error) in cases {
        test()
            .given(history(status))
            .when(command)
            .then_expect_error(error);
    }
}

fn complete() -> PhotoCommand {
    PhotoCommand::CompleteProcessing {
        width: 300,
        height: 200,
        variants: variants(),
        placeholder: None,
        formats_tried: vec!["image/webp".into()],
    }
}

fn fail() -> PhotoCommand {
    PhotoCommand::FailProcessing { reason: "x".into() }
}

/// Another seller's photo and a photo that does not exist look the same.
#[test]
fn commands_on_another_sellers_or_a_missing_photo_are_not_found() {
    let other = || OTHER.to_owned();
    let seller_commands = || {
        vec![
            PhotoCommand::ConfirmUpload {
                seller_id: other(),
                stored_size: 1000,
            },
            PhotoCommand::UpdateDetails {
                seller_id: other(),
                caption: Some("x".into()),
                alt_text: None,
                tags: None,
            },
            PhotoCommand::Delete { seller_id: other() },
            PhotoCommand::RequestReprocess { seller_id: other() },
        ]
    };
    for command in seller_commands() {
        test()
            .given(history(PhotoStatus::Ready))
            .when(command)
            .then_expect_error(PhotoError::NotFound);
    }
    for command in
        seller_commands()
            .into_iter()
            .chain([PhotoCommand::StartProcessing, complete(), fail()])
    {
        test()
            .given_no_previous_events()
            .when(command)
            .then_expect_error(PhotoError::NotFound);
    }
}

fn webhook(kind: WebhookKind, for_sequence: u64) -> Webhook {
    Webhook {
        id: format!("msg_{for_sequence}"),
        kind,
        for_sequence,
    }
}

fn delivered(for_sequence: u64) -> WebhookOutcome {
    WebhookOutcome::Delivered {
        webhook: webhook(WebhookKind::PhotoReady, for_sequence),
        attempts: 3,
        status: 200,
    }
}

fn delivered_event(for_sequence: u64) -> Fact {
    Fact(PhotoWebhookDelivered {
        occurred_at: now(),
        webhook: webhook(WebhookKind::PhotoReady, for_sequence),
        attempts: 3,
        status: 200,
    })
}

#[test]
fn a_delivered_webhook_is_recorded() {
    test()
        .given(history(PhotoStatus::Ready))
        .when(PhotoCommand::RecordWebhook(delivered(4)))
        .then_expect_events(vec![delivered_event(4)]);
}

#[test]
fn a_given_up_webhook_is_recorded_with_its_last_status() {
    let webhook = webhook(WebhookKind::PhotoFailed, 4);
    test()
        .given(history(PhotoStatus::Failed))
        .when(PhotoCommand::RecordWebhook(WebhookOutcome::GaveUp {
            webhook: webhook.clone(),
            attempts: 10,
            last_status: Some(503),
            reason: "the receiver answered 503".into(),
        }))
        .then_expect_events(vec![Fact(PhotoWebhookGaveUp {
            occurred_at: now(),
            webhook,
            attempts: 10,
            last_status: Some(503),
            reason: "the receiver answered 503".into(),
        })]);
}

#[test]
fn a_webhook_outcome_is_recorded_once() {
    let mut given = history(PhotoStatus::Ready);
    given.push(delivered_event(4));
    test()
        .given(given)
        .when(PhotoCommand::RecordWebhook(delivered(4)))
        .then_expect_events(vec![]);
}

#[test]
fn an_outcome_for_an_older_state_change_than_one_settled_appends_nothing() {
    // Ready at 4, reprocessed, ready again at 8 and announced: a late outcome for 4 is stale.
    let mut given = history(PhotoStatus::Ready);
    given.extend([reprocess_requested(), started(2), processed()]);
    given.push(delivered_event(8));
    test()
        .given(given)
        .when(PhotoCommand::RecordWebhook(delivered(4)))
        .then_expect_events(vec![]);
}

#[test]
fn an_outcome_is_recorded_even_for_a_photo_deleted_since() {
    let mut given = history(PhotoStatus::Ready);
    given.push(deleted());
    test()
        .given(given)
        .when(PhotoCommand::RecordWebhook(delivered(4)))
        .then_expect_events(vec![delivered_event(4)]);
}

#[test]
fn an_outcome_for_an_event_the_photo_does_not_have_is_refused() {
    test()
        .given(history(PhotoStatus::Ready))
        .when(PhotoCommand::RecordWebhook(delivered(9)))
        .then_expect_error(PhotoError::NoSuchChange(9));
    test()
        .given_no_previous_events()
        .when(PhotoCommand::RecordWebhook(delivered(1)))
        .then_expect_error(PhotoError::NotFound);
}

fn avif_files(folder: &str) -> BTreeMap<VariantName, VariantFormat> {
    let file = VariantFormat {
        key: format!("{folder}/thumb.avif"),
        bytes: 2000,
    };
    BTreeMap::from([(VariantName::Thumb, file)])
}

fn add_avif(folder: &str) -> PhotoCommand {
    PhotoCommand::AddFormat {
        folder: folder.into(),
        format: "image/avif".into(),
        files: avif_files(folder),
    }
}

fn avif_added() -> Fact {
    Fact(PhotoFormatAdded {
        occurred_at: now(),
        format: "image/avif".into(),
        files: avif_files("variants/7"),
    })
}

/// The AVIF of the thumb only, as when the large one's would be heavier than its JPEG.
#[test]
fn a_ready_photo_gets_a_format_made_from_its_render() {
    test()
        .given(history(PhotoStatus::Ready))
        .when(add_avif("variants/7"))
        .then_expect_events(vec![avif_added()]);
}

#[test]
fn a_format_added_again_appends_nothing() {
    let mut given = history(PhotoStatus::Ready);
    given.push(avif_added());
    test()
        .given(given)
        .when(add_avif("variants/7"))
        .then_expect_events(vec![]);
}

#[test]
fn a_format_of_another_render_or_of_a_variant_it_lacks_is_refused() {
    test()
        .given(history(PhotoStatus::Ready))
        .when(add_avif("variants/7/an-older-attempt"))
        .then_expect_error(PhotoError::OtherRender);
    let medium = VariantFormat {
        key: "variants/7/medium.avif".into(),
        bytes: 20_000,
    };
    test()
        .given(history(PhotoStatus::Ready))
        .when(PhotoCommand::AddFormat {
            folder: "variants/7".into(),
            format: "image/avif".into(),
            files: BTreeMap::from([(VariantName::Medium, medium)]),
        })
        .then_expect_error(PhotoError::OtherRender);
    // None lighter, but from an older render: it settles nothing of this one.
    test()
        .given(history(PhotoStatus::Ready))
        .when(PhotoCommand::AddFormat {
            folder: "variants/6".into(),
            format: "image/avif".into(),
            files: BTreeMap::new(),
        })
        .then_expect_error(PhotoError::OtherRender);
}

/// No variant is lighter in AVIF: the format is settled with no file, so no AVIF is awaited.
#[test]
fn a_format_with_no_lighter_variant_is_recorded_with_no_file() {
    let none_lighter = || PhotoCommand::AddFormat {
        folder: "variants/7".into(),
        format: "image/avif".into(),
        files: BTreeMap::new(),
    };
    let settled = Fact(PhotoFormatAdded {
        occurred_at: now(),
        format: "image/avif".into(),
        files: BTreeMap::new(),
    });
    test()
        .given(history(PhotoStatus::Ready))
        .when(none_lighter())
        .then_expect_events(vec![settled.clone()]);
    let mut given = history(PhotoStatus::Ready);
    given.push(settled);
    test()
        .given(given)
        .when(none_lighter())
        .then_expect_events(vec![]);
}

fn request_avif() -> PhotoCommand {
    PhotoCommand::RequestFormats {
        formats: vec!["image/avif".into(), "image/webp".into()],
    }
}

/// A backfill asks only for what the render the photo shows has not settled.
#[test]
fn later_formats_are_requested_for_a_ready_photo_that_lacks_them() {
    test()
        .given(history(PhotoStatus::Ready))
        .when(request_avif())
        .then_expect_events(vec![Fact(PhotoFormatsRequested {
            occurred_at: now(),
            formats: vec!["image/avif".into()],
        })]);
    let mut given = history(PhotoStatus::Ready);
    given.push(avif_added());
    test()
        .given(given)
        .when(request_avif())
        .then_expect_events(vec![]);
    use PhotoStatus::*;
    for status in [PendingUpload, Uploaded, Processing, Failed, Deleted] {
        test()
            .given(history(status))
            .when(request_avif())
            .then_expect_error(not_allowed("make the later formats of", status));
    }
}

#[test]
fn a_format_is_added_only_to_a_ready_photo() {
    use PhotoStatus::*;
    for status in [PendingUpload, Uploaded, Processing, Failed, Deleted] {
        test()
            .given(history(status))
            .when(add_avif("variants/7"))
            .then_expect_error(not_allowed("add a format to", status));
    }
    // Reprocessing asked meanwhile: the photo waits for new variants.
    let mut given = history(Ready);
    given.push(reprocess_requested());
    test()
        .given(given)
        .when(add_avif("variants/7"))
        .then_expect_error(not_allowed("add a format to", Uploaded));
}

fn new_original() -> ReplacementRequested {
    ReplacementRequested {
        occurred_at: now(),
        filename: "reshot.jpg".into(),
        content_type: "image/jpeg".into(),
        size_bytes: 2000,
        checksum_sha256: None,
        object_key: "originals/7.4".into(),
        caption: Some("Re-shot".into()),
        alt_text: None,
        tags: None,
        callback_url: None,
    }
}

fn replace() -> PhotoCommand {
    PhotoCommand::RequestReplacement {
        seller_id: SELLER.into(),
        request: new_original(),
    }
}

fn replacement_requested() -> Fact {
    Fact(PhotoReplacementRequested(new_original()))
}

fn replacement_uploaded() -> Fact {
    Fact(PhotoReplacementUploaded {
        occurred_at: now(),
        size_bytes: 2000,
    })
}

fn renders_replacement() -> PhotoCommand {
    PhotoCommand::CompleteReplacement {
        width: 300,
        height: 200,
        variants: variants(),
        placeholder: None,
        formats_tried: vec!["image/webp".into()],
    }
}

/// A rendered photo (ready, or failed since) takes a new original; the one it shows stays.
#[test]
fn a_rendered_photo_is_given_a_new_original_and_keeps_showing_its_own_until_then() {
    for status in [PhotoStatus::Ready, PhotoStatus::Failed] {
        test()
            .given(history(status))
            .when(replace())
            .then_expect_events(vec![replacement_requested()]);
    }
    let mut given = history(PhotoStatus::Ready);
    given.push(replacement_requested());
    let state = Photo::default();
    let mut photo = state;
    for fact in &given {
        photo.apply(fact.clone());
    }
    let shown = photo.state().unwrap();
    assert_eq!(shown.status, PhotoStatus::Ready);
    assert_eq!(shown.object_key, "originals/7");
    assert_eq!(shown.caption.as_deref(), Some("Re-shot"));
    assert_eq!(
        shown.replacement.as_ref().unwrap().object_key,
        "originals/7.4"
    );
}

#[test]
fn a_photo_never_rendered_deleted_or_rendering_its_new_original_is_not_replaced() {
    use PhotoStatus::*;
    for status in [PendingUpload, Uploaded, Processing, Deleted] {
        test()
            .given(history(status))
            .when(replace())
            .then_expect_error(not_allowed("replace", status));
    }
    let mut given = history(Ready);
    given.extend([replacement_requested(), replacement_uploaded()]);
    test()
        .given(given)
        .when(replace())
        .then_expect_error(not_allowed(
            "replace while its new original is rendered",
            Ready,
        ));
    test()
        .given(history(Ready))
        .when(PhotoCommand::RequestReplacement {
            seller_id: OTHER.into(),
            request: new_original(),
        })
        .then_expect_error(PhotoError::NotFound);
}

/// Its upload is recorded once, at the declared size; rendered, the photo shows it.
#[test]
fn a_new_original_is_uploaded_once_then_rendered_into_the_photo() {
    let mut given = history(PhotoStatus::Ready);
    given.push(replacement_requested());
    let confirm = |stored_size| PhotoCommand::ConfirmReplacement {
        seller_id: SELLER.into(),
        stored_size,
    };
    test()
        .given(given.clone())
        .when(confirm(2000))
        .then_expect_events(vec![replacement_uploaded()]);
    test()
        .given(given.clone())
        .when(confirm(5))
        .then_expect_error(PhotoError::SizeMismatch {
            declared: 2000,
            stored: 5,
        });
    // Not uploaded yet: nothing to render.
    test()
        .given(given.clone())
        .when(renders_replacement())
        .then_expect_error(not_allowed(
            "complete a new original of",
            PhotoStatus::Ready,
        ));
    given.push(replacement_uploaded());
    test()
        .given(given.clone())
        .when(confirm(2000))
        .then_expect_events(vec![]);
    test()
        .given(given.clone())
        .when(renders_replacement())
        .then_expect_events(vec![Fact(PhotoReplaced {
            occurred_at: now(),
            width: 300,
            height: 200,
            variants: variants(),
            placeholder: None,
            formats_tried: vec!["image/webp".into()],
        })]);
    test()
        .given(given)
        .when(PhotoCommand::FailReplacement {
            reason: "not an image".into(),
        })
        .then_expect_events(vec![Fact(PhotoReplacementFailed {
            occurred_at: now(),
            reason: "not an image".into(),
        })]);
}
