//! Page cursors: the index key of the last item of a page, as an opaque URL-safe string.
//!
//! A cursor is only accepted for the listing that made it: its index key must be the one being
//! listed, so a cursor cannot be turned into a look at another product's or seller's photos.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use catalog_read_model::{GALLERY_RANK, LISTED_KEY, PHOTO_ID};

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

/// The key a cursor of the listing of `index_key` = `listed`, sorted by `sort_key`, stands for.
pub fn decode(
    cursor: &str,
    index_key: &str,
    listed: &str,
    sort_key: &str,
) -> Result<Key, BadCursor> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| BadCursor)?;
    let strings: BTreeMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| BadCursor)?;
    let names: Vec<&str> = strings.keys().map(String::as_str).collect();
    let mut expected = vec![PHOTO_ID, sort_key, index_key];
    expected.sort_unstable();
    let part = |name: &str| strings.get(name).map(String::as_str).unwrap_or_default();
    let (sort, photo) = (part(sort_key), part(PHOTO_ID));
    let sort_is_valid = match sort_key {
        GALLERY_RANK => catalog_read_model::is_gallery_rank(sort, photo),
        LISTED_KEY => catalog_read_model::is_listed_key(sort, photo),
        _ => false,
    };
    if names != expected || part(index_key) != listed || !sort_is_valid {
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
                "inventory_key".to_owned(),
                AttributeValue::S(product.to_owned()),
            ),
        ])
    }

    fn listed(photo: &str) -> String {
        format!("2026-05-06T07:08:09.123456Z#{photo}")
    }

    proptest! {
        #[test]
        fn a_cursor_round_trips(photo in any::<u128>(), product in "\\PC{1,40}") {
            let photo = uuid::Uuid::from_u128(photo).to_string();
            let original = key(&photo, &listed(&photo), &product);
            prop_assert_eq!(decode(&encode(&original), "inventory_key", &product, LISTED_KEY), Ok(original));
        }
    }

    #[test]
    fn a_cursor_with_keys_this_service_never_writes_is_refused() {
        let photo = uuid::Uuid::from_u128(7).to_string();
        for (id, listed) in [
            ("", String::new()),
            (photo.as_str(), String::new()),
            (photo.as_str(), format!("#{photo}")),
            (photo.as_str(), "2026-05-06T07:08:09.123456Z#".to_owned()),
            ("not-a-uuid", listed("not-a-uuid")),
            (
                photo.as_str(),
                listed(&uuid::Uuid::from_u128(8).to_string()),
            ),
        ] {
            let cursor = encode(&key(id, &listed, "sku-1"));
            assert_eq!(
                decode(&cursor, "inventory_key", "sku-1", LISTED_KEY),
                Err(BadCursor),
                "{id} {listed}"
            );
        }
    }

    #[test]
    fn a_cursor_of_another_listing_or_garbage_is_refused() {
        let photo = uuid::Uuid::from_u128(7).to_string();
        let cursor = encode(&key(&photo, &listed(&photo), "sku-1"));
        let decode = |cursor: &str, key, value| decode(cursor, key, value, LISTED_KEY);
        assert_eq!(decode(&cursor, "inventory_key", "sku-2"), Err(BadCursor));
        assert_eq!(decode(&cursor, "status_key", "sku-1"), Err(BadCursor));
        assert_eq!(
            super::decode(&cursor, "inventory_key", "sku-1", GALLERY_RANK),
            Err(BadCursor)
        );
        assert_eq!(
            decode("not base64!", "inventory_key", "sku-1"),
            Err(BadCursor)
        );
        assert_eq!(
            decode(&URL_SAFE_NO_PAD.encode(b"[1,2]"), "inventory_key", "sku-1"),
            Err(BadCursor)
        );
    }
}
