//! The read model's items: one DynamoDB item per photo, written by the projector and the
//! resync (`projections`), read by the read API (`read-side`). This crate is the one place
//! that knows an item's layout, both ways: [`encode`] and [`decode`].
//!
//! The item holds the photo's whole state and the keys of the indexes, each present only where
//! the photo belongs in that listing:
//!
//! | attribute | value | present | index (sort key) |
//! | --- | --- | --- | --- |
//! | `photo_id` | the photo id (table key) | always | |
//! | `version` | the aggregate sequence the item reflects | always | |
//! | `state` | the photo's [`PhotoState`] as a map | always | |
//! | `gallery_key` | the product id | the photo is `ready` | `gallery` (`gallery_rank`) |
//! | `gallery_rank` | its place in the seller's order, then newest first | the photo is `ready` | |
//! | `inventory_key` | the seller id | the photo is not deleted | `inventory` (`listed_key`) |
//! | `status_key` | the seller id and the status | the photo is not deleted | `inventory_status` (`listed_key`) |
//! | `product_key` | the product id | the photo is not deleted | `product` (`listed_key`) |
//! | `listed_key` | creation time and id: newest first when read backwards | always | |
//!
//! A deleted photo stays as a versioned tombstone (status `deleted`, no index keys), so that a
//! late, older event cannot bring it back and it is gone from every listing.
//!
//! The layout is the table's: a change of keys goes into a new table, built beside the live one
//! from the event store and compared with it before the services switch (`catalog rebuild`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use catalog_events::{PhotoState, PhotoStatus};

pub const PHOTO_ID: &str = "photo_id";
pub const VERSION: &str = "version";
pub const STATE: &str = "state";
/// When the item was last written (RFC 3339), for `catalog trace`; not part of the photo.
pub const PROJECTED_AT: &str = "projected_at";
pub const GALLERY_INDEX: &str = "gallery";
pub const GALLERY_KEY: &str = "gallery_key";
pub const GALLERY_RANK: &str = "gallery_rank";
pub const INVENTORY_INDEX: &str = "inventory";
pub const INVENTORY_KEY: &str = "inventory_key";
pub const STATUS_INDEX: &str = "inventory_status";
pub const STATUS_KEY: &str = "status_key";
pub const PRODUCT_INDEX: &str = "product";
pub const PRODUCT_KEY: &str = "product_key";
pub const LISTED_KEY: &str = "listed_key";

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// The index keys of a photo's item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKeys {
    pub gallery_key: Option<String>,
    pub gallery_rank: Option<String>,
    pub inventory_key: Option<String>,
    pub status_key: Option<String>,
    pub product_key: Option<String>,
    pub listed_key: String,
}

/// The fixed-width UTC time of a listed key: it sorts as text.
const LISTED_TIME: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// Microseconds are subtracted from this for a rank that puts the newest first: it stays
/// 17 digits wide until the year 5138.
const NEWEST_FIRST: i64 = 99_999_999_999_999_999;

impl IndexKeys {
    pub fn of(state: &PhotoState) -> Self {
        let ready = state.status == PhotoStatus::Ready;
        let live = state.status != PhotoStatus::Deleted;
        Self {
            gallery_key: ready.then(|| state.product_id.clone()),
            gallery_rank: ready.then(|| gallery_rank(state)),
            inventory_key: live.then(|| state.seller_id.clone()),
            status_key: live.then(|| status_key(&state.seller_id, state.status)),
            product_key: live.then(|| state.product_id.clone()),
            // Creation time, then the id to break ties.
            listed_key: format!(
                "{}#{}",
                state.created_at.format(LISTED_TIME),
                state.photo_id
            ),
        }
    }
}

/// The key of a seller's photos in one status.
pub fn status_key(seller_id: &str, status: PhotoStatus) -> String {
    format!("{seller_id}#{status}")
}

/// A photo's place in its gallery, as text that sorts ascending: photos the seller placed
/// first (`0`, by position), then the others (`1`), newest first; the id breaks ties.
fn gallery_rank(state: &PhotoState) -> String {
    match state.position {
        Some(position) => format!("0#{position:010}#{}", state.photo_id),
        None => format!(
            "1#{:017}#{}",
            NEWEST_FIRST - state.created_at.timestamp_micros().clamp(0, NEWEST_FIRST),
            state.photo_id
        ),
    }
}

/// Whether `rank` is a gallery rank a photo `photo_id` could have.
pub fn is_gallery_rank(rank: &str, photo_id: &str) -> bool {
    let mut parts = rank.splitn(3, '#');
    let (Some(group), Some(order), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let width = match group {
        "0" => 10,
        "1" => 17,
        _ => return false,
    };
    id == photo_id
        && uuid::Uuid::parse_str(id).is_ok()
        && order.len() == width
        && order.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `listed` is the listed key a photo `photo_id` would have: a page cursor is trusted
/// only if it holds keys this crate could have written.
pub fn is_listed_key(listed: &str, photo_id: &str) -> bool {
    let Some((time, id)) = listed.rsplit_once('#') else {
        return false;
    };
    id == photo_id
        && uuid::Uuid::parse_str(id).is_ok()
        && chrono::NaiveDateTime::parse_from_str(time, LISTED_TIME).is_ok()
}

/// What a deleted photo's item keeps: enough to answer for it (its id, owner, product, status
/// and version, so a late event cannot bring it back) and nothing its seller wrote or uploaded.
fn tombstone(state: &PhotoState) -> PhotoState {
    PhotoState {
        filename: String::new(),
        size_bytes: 0,
        checksum_sha256: None,
        caption: None,
        alt_text: None,
        tags: Vec::new(),
        callback_url: None,
        object_key: String::new(),
        failure_reason: None,
        width: None,
        height: None,
        variants: Default::default(),
        placeholder: None,
        formats_tried: Default::default(),
        replacement: None,
        position: None,
        ..state.clone()
    }
}

/// The item that holds `state` (a tombstone's, for a deleted photo).
pub fn encode(state: &PhotoState) -> Result<Item, serde_dynamo::Error> {
    let tombstone;
    let state = if state.status == PhotoStatus::Deleted {
        tombstone = self::tombstone(state);
        &tombstone
    } else {
        state
    };
    let keys = IndexKeys::of(state);
    let mut item = Item::from([
        (
            PHOTO_ID.to_owned(),
            AttributeValue::S(state.photo_id.to_string()),
        ),
        (
            VERSION.to_owned(),
            AttributeValue::N(state.version.to_string()),
        ),
        (STATE.to_owned(), serde_dynamo::to_attribute_value(state)?),
        (LISTED_KEY.to_owned(), AttributeValue::S(keys.listed_key)),
    ]);
    for (name, value) in [
        (GALLERY_KEY, keys.gallery_key),
        (GALLERY_RANK, keys.gallery_rank),
        (INVENTORY_KEY, keys.inventory_key),
        (STATUS_KEY, keys.status_key),
        (PRODUCT_KEY, keys.product_key),
    ] {
        if let Some(value) = value {
            item.insert(name.to_owned(), AttributeValue::S(value));
        }
    }
    Ok(item)
}

/// The photo state an item holds.
pub fn decode(item: &Item) -> Result<PhotoState, serde_dynamo::Error> {
    let state = item
        .get(STATE)
        .cloned()
        .unwrap_or(AttributeValue::Null(true));
    serde_dynamo::from_attribute_value(state)
}

/// The version an item holds.
pub fn version(item: &Item) -> Option<u64> {
    match item.get(VERSION)? {
        AttributeValue::N(number) => number.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use catalog_events::resources::Resources;

    use super::*;

    #[test]
    fn the_read_model_uses_the_tables_attribute_names() {
        let table = Resources::standard().unwrap().table;
        assert_eq!(table.partition_key, PHOTO_ID);
        let keys = |name: &str| {
            let index = table
                .indexes
                .iter()
                .find(|index| index.name == name)
                .unwrap();
            (index.partition_key.clone(), index.sort_key.clone())
        };
        for (index, partition, sort) in [
            (GALLERY_INDEX, GALLERY_KEY, GALLERY_RANK),
            (INVENTORY_INDEX, INVENTORY_KEY, LISTED_KEY),
            (STATUS_INDEX, STATUS_KEY, LISTED_KEY),
            (PRODUCT_INDEX, PRODUCT_KEY, LISTED_KEY),
        ] {
            assert_eq!(
                keys(index),
                (partition.to_owned(), sort.to_owned()),
                "{index}"
            );
        }
        assert_eq!(table.indexes.len(), 4);
    }

    fn photo(n: u128, micros: i64, position: Option<u32>) -> PhotoState {
        let mut state = PhotoState::new(&catalog_events::UploadRequested {
            occurred_at: chrono::DateTime::from_timestamp_micros(micros).unwrap(),
            photo_id: uuid::Uuid::from_u128(n),
            seller_id: "s".into(),
            product_id: "p".into(),
            filename: "f".into(),
            content_type: "image/jpeg".into(),
            size_bytes: 1,
            checksum_sha256: None,
            caption: None,
            alt_text: None,
            tags: vec![],
            callback_url: None,
            object_key: String::new(),
        });
        state.status = PhotoStatus::Ready;
        state.position = position;
        state
    }

    #[test]
    fn a_gallery_sorts_placed_photos_by_position_then_the_rest_newest_first() {
        let photos = [
            photo(1, 1_000, None),
            photo(2, 9_000_000_000_000, None),
            photo(3, 5_000, Some(2)),
            photo(4, 7_000, Some(10)),
            photo(5, 3_000, Some(1)),
        ];
        let mut ranked: Vec<(String, u128)> = photos
            .iter()
            .map(|photo| (gallery_rank(photo), photo.photo_id.as_u128()))
            .collect();
        ranked.sort();
        let order: Vec<u128> = ranked.into_iter().map(|(_, id)| id).collect();
        assert_eq!(order, [5, 3, 4, 2, 1]);
        for photo in &photos {
            let id = photo.photo_id.to_string();
            assert!(is_gallery_rank(&gallery_rank(photo), &id));
            assert!(!is_gallery_rank(&gallery_rank(photo), "not-this-one"));
        }
        assert!(!is_gallery_rank("2#0000000001#x", "x"));
    }

    #[test]
    fn only_live_photos_have_inventory_keys_and_only_ready_ones_gallery_keys() {
        let mut state = photo(1, 1_000, None);
        state.status = PhotoStatus::Failed;
        let keys = IndexKeys::of(&state);
        assert_eq!(keys.status_key.as_deref(), Some("s#failed"));
        assert_eq!(keys.product_key.as_deref(), Some("p"));
        assert_eq!((keys.gallery_key, keys.gallery_rank), (None, None));
        state.status = PhotoStatus::Deleted;
        let keys = IndexKeys::of(&state);
        assert_eq!(
            (keys.inventory_key, keys.status_key, keys.product_key),
            (None, None, None)
        );
    }
}
