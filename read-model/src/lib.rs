//! The read model's items: one DynamoDB item per photo, written by the projector and the
//! resync (`projections`), read by the read API (`read-side`). This crate is the one place
//! that knows an item's layout, both ways: [`encode`] and [`decode`].
//!
//! The item holds the photo's whole state and the keys of the two indexes, which are present
//! only where the photo belongs in that listing:
//!
//! | attribute | value | present |
//! | --- | --- | --- |
//! | `photo_id` | the photo id (table key) | always |
//! | `version` | the aggregate sequence the item reflects | always |
//! | `state` | the photo's [`PhotoState`] as a map | always |
//! | `gallery_key` | the product id (index `gallery`) | the photo is `ready` |
//! | `inventory_key` | the seller id (index `inventory`) | the photo is not deleted |
//! | `listed_key` | creation time and id: newest first when read backwards | always |
//!
//! A deleted photo stays as a versioned tombstone (status `deleted`, no index keys), so that a
//! late, older event cannot bring it back and it is gone from both listings.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use catalog_events::{PhotoState, PhotoStatus};

pub const PHOTO_ID: &str = "photo_id";
pub const VERSION: &str = "version";
pub const STATE: &str = "state";
pub const GALLERY_INDEX: &str = "gallery";
pub const GALLERY_KEY: &str = "gallery_key";
pub const INVENTORY_INDEX: &str = "inventory";
pub const INVENTORY_KEY: &str = "inventory_key";
pub const LISTED_KEY: &str = "listed_key";

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// The index keys of a photo's item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKeys {
    pub gallery_key: Option<String>,
    pub inventory_key: Option<String>,
    pub listed_key: String,
}

/// The fixed-width UTC time of a listed key: it sorts as text.
const LISTED_TIME: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

impl IndexKeys {
    pub fn of(state: &PhotoState) -> Self {
        Self {
            gallery_key: (state.status == PhotoStatus::Ready).then(|| state.product_id.clone()),
            inventory_key: (state.status != PhotoStatus::Deleted).then(|| state.seller_id.clone()),
            // Creation time, then the id to break ties.
            listed_key: format!(
                "{}#{}",
                state.created_at.format(LISTED_TIME),
                state.photo_id
            ),
        }
    }
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
    if let Some(gallery) = keys.gallery_key {
        item.insert(GALLERY_KEY.to_owned(), AttributeValue::S(gallery));
    }
    if let Some(inventory) = keys.inventory_key {
        item.insert(INVENTORY_KEY.to_owned(), AttributeValue::S(inventory));
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
        let index = |name: &str| {
            table
                .indexes
                .iter()
                .find(|index| index.name == name)
                .unwrap()
                .clone()
        };
        let gallery = index(GALLERY_INDEX);
        assert_eq!(
            (gallery.partition_key.as_str(), gallery.sort_key.as_str()),
            (GALLERY_KEY, LISTED_KEY)
        );
        let inventory = index(INVENTORY_INDEX);
        assert_eq!(
            (
                inventory.partition_key.as_str(),
                inventory.sort_key.as_str()
            ),
            (INVENTORY_KEY, LISTED_KEY)
        );
    }
}
