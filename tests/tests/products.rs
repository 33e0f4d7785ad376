//! Products against the real Postgres: a product belongs to the seller whose photo of it first
//! has its file recorded, however sellers race for it (a photo only declared claims nothing),
//! and its owner orders its gallery with events that never interleave.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::sync::Arc;

use catalog_event_store::aggregate::{PhotoCommand, PhotoError, PhotoServices};
use catalog_event_store::store::{self, CommandError, PhotoStore};
use catalog_events::PhotoEvent;
use catalog_tests::{fresh_database, upload_request};
use uuid::Uuid;

async fn store() -> PhotoStore {
    let url = fresh_database().await.unwrap();
    let pool = store::connect(&url, 40).await.unwrap();
    PhotoStore::new(pool, PhotoServices::default())
}

/// A photo of `product` whose file is stored (a multipart upload).
async fn create(store: &PhotoStore, seller: &str, product: &str) -> Result<Uuid, CommandError> {
    let photo_id = Uuid::now_v7();
    let command = PhotoCommand::RecordUpload {
        request: upload_request(photo_id, seller, product),
        stored_size: 1000,
    };
    store.execute(photo_id, command, "test").await?;
    Ok(photo_id)
}

/// A photo of `product` only declared (`POST /v1/photos`), its file not yet uploaded.
async fn declare(store: &PhotoStore, seller: &str, product: &str) -> Result<Uuid, CommandError> {
    let photo_id = Uuid::now_v7();
    let command = PhotoCommand::RequestUpload(upload_request(photo_id, seller, product));
    store.execute(photo_id, command, "test").await?;
    Ok(photo_id)
}

/// A script that declares photos of a competitor's product ids claims none of them: the first
/// seller whose file arrives owns the product, and the squatter's pending photo fails with the
/// reason when its own file arrives.
#[tokio::test]
async fn a_pending_photo_does_not_claim_its_product() {
    let store = store().await;
    let squatted = declare(&store, "squatter", "their-product").await.unwrap();
    // Declaring is not owning: the real seller's upload takes the product.
    create(&store, "seller", "their-product").await.unwrap();
    // Now the product is the seller's: a new declaration of it is refused...
    let refused = declare(&store, "squatter", "their-product").await;
    assert!(matches!(
        refused,
        Err(CommandError::Refused(PhotoError::ProductOwned(_)))
    ));
    // ...and the pending photo's file, when it arrives, fails the photo with the reason.
    let confirm = PhotoCommand::ConfirmUpload {
        seller_id: "squatter".into(),
        stored_size: 100,
    };
    let after = store.execute(squatted, confirm, "test").await.unwrap();
    assert_eq!(after.status, catalog_events::PhotoStatus::Failed);
    let reason = after.failure_reason.unwrap();
    assert!(reason.contains("claimed by another seller"), "{reason}");
    // Nor does a reprocess bring it back.
    let reprocess = PhotoCommand::RequestReprocess {
        seller_id: "squatter".into(),
    };
    assert!(matches!(
        store.execute(squatted, reprocess, "test").await,
        Err(CommandError::Refused(PhotoError::ProductOwned(_)))
    ));
    let owner: String =
        sqlx::query_scalar("SELECT seller_id FROM products WHERE product_id = 'their-product'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(owner, "seller");
}

async fn events_of(store: &PhotoStore, photo_id: Uuid) -> Vec<PhotoEvent> {
    store
        .history(photo_id, 0, 1000)
        .await
        .unwrap()
        .map(|page| page.events.into_iter().map(|e| e.event).collect())
        .unwrap_or_default()
}

/// 20 first photos of one new product from two sellers at once: one seller owns it, every
/// photo of the other is refused with nothing appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sellers_racing_for_a_new_product_leave_exactly_one_owner() {
    let store = Arc::new(store().await);
    let racers: Vec<_> = (0..20)
        .map(|n| {
            let store = Arc::clone(&store);
            let seller = if n % 2 == 0 { "seller-a" } else { "seller-b" };
            tokio::spawn(async move { (seller, create(&store, seller, "new-product").await) })
        })
        .collect();
    let mut owners = std::collections::HashSet::new();
    let mut refused = 0;
    for racer in racers {
        match racer.await.unwrap() {
            (seller, Ok(_)) => {
                owners.insert(seller);
            }
            (_, Err(CommandError::Refused(PhotoError::ProductOwned(product)))) => {
                assert_eq!(product, "new-product");
                refused += 1;
            }
            (_, Err(other)) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(owners.len(), 1, "{owners:?}");
    assert_eq!(refused, 10);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(stored, 20, "only the owner's photos are stored");
}

#[tokio::test]
async fn the_owner_orders_the_gallery_and_others_cannot() {
    let store = store().await;
    let a = create(&store, "seller-a", "p").await.unwrap();
    let b = create(&store, "seller-a", "p").await.unwrap();
    let c = create(&store, "seller-a", "p").await.unwrap();
    let elsewhere = create(&store, "seller-a", "q").await.unwrap();

    // Two named; the one left out follows.
    let version = store
        .reorder("seller-a", "p", &[c, a], "test")
        .await
        .unwrap();
    assert_eq!(version, 1);
    let position = |events: Vec<PhotoEvent>| {
        events.into_iter().rev().find_map(|event| match event {
            PhotoEvent::PhotoReordered { position, .. } => Some(position),
            _ => None,
        })
    };
    assert_eq!(position(events_of(&store, c).await), Some(1));
    assert_eq!(position(events_of(&store, a).await), Some(2));
    assert_eq!(position(events_of(&store, b).await), Some(3));

    // The same order again appends nothing.
    assert_eq!(
        store
            .reorder("seller-a", "p", &[c, a, b], "test")
            .await
            .unwrap(),
        1
    );
    assert_eq!(events_of(&store, c).await.len(), 3);

    // Another seller, another product's photo, a photo named twice, an unknown product.
    let refusal = |result: Result<u64, CommandError>| match result {
        Err(CommandError::Refused(refusal)) => refusal,
        other => panic!("not refused: {other:?}"),
    };
    assert_eq!(
        refusal(store.reorder("seller-b", "p", &[a], "test").await),
        PhotoError::ProductOwned("p".into())
    );
    assert_eq!(
        refusal(store.reorder("seller-a", "p", &[elsewhere], "test").await),
        PhotoError::NotInProduct("p".into())
    );
    assert_eq!(
        refusal(store.reorder("seller-a", "p", &[a, a], "test").await),
        PhotoError::NotInProduct("p".into())
    );
    assert_eq!(
        refusal(store.reorder("seller-a", "nothing", &[a], "test").await),
        PhotoError::NotFound
    );
    assert_eq!(
        refusal(create(&store, "seller-b", "p").await.map(|_| 0)),
        PhotoError::ProductOwned("p".into())
    );
}

/// Reorders racing on one product: each that succeeded moved the version on by one, and
/// every photo's positions are those of one whole reorder, never a mix of two.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reorders_do_not_interleave() {
    let store = Arc::new(store().await);
    let mut photos = Vec::new();
    for _ in 0..6 {
        photos.push(create(&store, "seller-a", "p").await.unwrap());
    }
    let racers: Vec<_> = (0..8)
        .map(|n| {
            let store = Arc::clone(&store);
            let mut order = photos.clone();
            order.rotate_left(n % photos.len());
            tokio::spawn(async move {
                let result = store.reorder("seller-a", "p", &order, "race").await;
                (order, result)
            })
        })
        .collect();
    let mut versions = Vec::new();
    for racer in racers {
        let (_, result) = racer.await.unwrap();
        match result {
            Ok(version) => versions.push(version),
            Err(CommandError::Conflict) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert!(!versions.is_empty());
    // The final positions are one of the orders asked for, whole.
    let mut finals = Vec::new();
    for photo in &photos {
        finals.push(store.load(*photo).await.unwrap().unwrap().position.unwrap());
    }
    let mut by_position: Vec<(u32, Uuid)> = finals.iter().copied().zip(photos.clone()).collect();
    by_position.sort();
    let final_order: Vec<Uuid> = by_position.into_iter().map(|(_, id)| id).collect();
    let asked: Vec<Vec<Uuid>> = (0..photos.len())
        .map(|n| {
            let mut order = photos.clone();
            order.rotate_left(n);
            order
        })
        .collect();
    assert!(asked.contains(&final_order), "{final_order:?}");
}

/// An operator settles a dispute: the product moves to its new owner, every photo of it records
/// the transfer in its history, the former owner's photos leave the gallery (failed, saying
/// why), and from then on the new owner adds photos and the former owner cannot.
#[tokio::test]
async fn an_operator_transfers_a_product_and_its_history_shows_who_owned_it_when() {
    let store = store().await;
    let squatters = create(&store, "seller-squatter", "disputed").await.unwrap();
    let deleted = create(&store, "seller-squatter", "disputed").await.unwrap();
    let delete = PhotoCommand::Delete {
        seller_id: "seller-squatter".into(),
    };
    store.execute(deleted, delete, "test").await.unwrap();

    let transferred = store
        .transfer("disputed", "seller-owner", "test")
        .await
        .unwrap();
    assert_eq!(
        transferred.from_seller_id.as_deref(),
        Some("seller-squatter")
    );
    assert_eq!(
        transferred.photos, 2,
        "the deleted photo's history records it too"
    );
    for photo in [squatters, deleted] {
        let recorded = events_of(&store, photo).await;
        assert!(
            matches!(
                recorded.last(),
                Some(PhotoEvent::PhotoProductTransferred { from_seller_id: Some(from), to_seller_id, .. })
                    if from == "seller-squatter" && to_seller_id == "seller-owner"
            ),
            "{recorded:?}"
        );
    }
    let photo = store
        .execute(
            squatters,
            PhotoCommand::RequestReprocess {
                seller_id: "seller-squatter".into(),
            },
            "test",
        )
        .await;
    assert!(matches!(
        photo,
        Err(CommandError::Refused(PhotoError::ProductOwned(_)))
    ));
    create(&store, "seller-owner", "disputed").await.unwrap();
    assert!(matches!(
        create(&store, "seller-squatter", "disputed").await,
        Err(CommandError::Refused(PhotoError::ProductOwned(_)))
    ));
    // Transferring it to its owner changes nothing.
    let again = store
        .transfer("disputed", "seller-owner", "test")
        .await
        .unwrap();
    assert_eq!(again.photos, 0);
    assert_eq!(events_of(&store, squatters).await.len(), 3);
}
