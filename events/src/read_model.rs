//! The read model's items: one DynamoDB item per photo, written by the projector and the
//! resync, read by the read API. The item holds the photo's whole state and the keys of the
//! two indexes, which are present only where the photo belongs in that listing:
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

use crate::state::{PhotoState, PhotoStatus};

pub const PHOTO_ID: &str = "photo_id";
pub const VERSION: &str = "version";
pub const STATE: &str = "state";
pub const GALLERY_INDEX: &str = "gallery";
pub const GALLERY_KEY: &str = "gallery_key";
pub const INVENTORY_INDEX: &str = "inventory";
pub const INVENTORY_KEY: &str = "inventory_key";
pub const LISTED_KEY: &str = "listed_key";

/// The index keys of a photo's item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKeys {
    pub gallery_key: Option<String>,
    pub inventory_key: Option<String>,
    pub listed_key: String,
}

impl IndexKeys {
    pub fn of(state: &PhotoState) -> Self {
        Self {
            gallery_key: (state.status == PhotoStatus::Ready).then(|| state.product_id.clone()),
            inventory_key: (state.status != PhotoStatus::Deleted).then(|| state.seller_id.clone()),
            // Fixed-width UTC time sorts as text; the id breaks ties.
            listed_key: format!(
                "{}#{}",
                state.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
                state.photo_id
            ),
        }
    }
}
