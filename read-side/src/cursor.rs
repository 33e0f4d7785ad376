//! Page cursors: DynamoDB's `LastEvaluatedKey` of a listing, as an opaque URL-safe string.
//!
//! A cursor is only accepted for the listing that made it: its index key must be the one being
//! listed, so a cursor cannot be turned into a look at another product's or seller's photos.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use catalog_read_model::{LISTED_KEY, PHOTO_ID};

pub type Key = HashMap<String, AttributeValue>;

/// Why a cursor was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the cursor is not one this listing gave")]
pub struct BadCursor;

/// The cursor for the page after `key`.
pub fn encode(key: &Key) -> String {
    let strings: BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(name, value)| {
            value
                .as_s()
                .ok()
                .map(|value| (name.as_str(), value.as_str()))
        })
        .collect();
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&strings).unwrap_or_default())
}

/// The key a cursor of the listing of `index_key` = `listed` stands for.
pub fn decode(cursor: &str, index_key: &str, listed: &str) -> Result<Key, BadCursor> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| BadCursor)?;
    let strings: BTreeMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| BadCursor)?;
    let names: Vec<&str> = strings.keys().map(String::as_str).collect();
    let mut expected = vec![PHOTO_ID, LISTED_KEY, index_key];
    expected.sort_unstable();
    if names != expected || strings.get(index_key).map(String::as_str) != Some(listed) {
        return Err(BadCursor);
    }
    Ok(strings
        .into_iter()
        .map(|(name, value)| (name, AttributeValue::S(value)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(photo: &str, listed: &str, product: &str) -> Key {
        Key::from([
            (PHOTO_ID.to_owned(), AttributeValue::S(photo.to_owned())),
            (LISTED_KEY.to_owned(), AttributeValue::S(listed.to_owned())),
            (
                "gallery_key".to_owned(),
                AttributeValue::S(product.to_owned()),
            ),
        ])
    }

    proptest! {
        #[test]
        fn a_cursor_round_trips(photo in "\\PC{1,40}", listed in "\\PC{1,60}", product in "\\PC{1,40}") {
            let original = key(&photo, &listed, &product);
            prop_assert_eq!(decode(&encode(&original), "gallery_key", &product), Ok(original));
        }
    }

    #[test]
    fn a_cursor_of_another_listing_or_garbage_is_refused() {
        let cursor = encode(&key("p1", "2026#p1", "sku-1"));
        assert_eq!(decode(&cursor, "gallery_key", "sku-2"), Err(BadCursor));
        assert_eq!(decode(&cursor, "inventory_key", "sku-1"), Err(BadCursor));
        assert_eq!(
            decode("not base64!", "gallery_key", "sku-1"),
            Err(BadCursor)
        );
        assert_eq!(
            decode(&URL_SAFE_NO_PAD.encode(b"[1,2]"), "gallery_key", "sku-1"),
            Err(BadCursor)
        );
    }
}
