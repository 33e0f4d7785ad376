//! A photo's read-model item (see `catalog_events::read_model`) and the one guarded write that
//! the projector and the resync both use: an item is replaced only by a newer version of the
//! same photo, so duplicates and reordering change nothing and a late event cannot undo a
//! later one (a deletion included).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use catalog_events::PhotoState;
use catalog_events::read_model::{
    GALLERY_KEY, INVENTORY_KEY, IndexKeys, LISTED_KEY, PHOTO_ID, STATE, VERSION,
};

pub type Item = HashMap<String, AttributeValue>;
type Error = Box<dyn std::error::Error + Send + Sync>;

/// The item that holds `state`.
pub fn item(state: &PhotoState) -> Result<Item, serde_dynamo::Error> {
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

/// The version an item holds.
pub fn version(item: &Item) -> Option<u64> {
    match item.get(VERSION)? {
        AttributeValue::N(number) => number.parse().ok(),
        _ => None,
    }
}

/// Which stored versions a write may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Only older ones: what the projector writes.
    Older,
    /// Older ones and the same version: what the resync writes to repair a damaged item.
    OlderOrSame,
}

/// What a guarded write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Stored,
    /// The table already held a version the guard does not replace: nothing to do.
    Superseded,
}

/// Writes `state`'s item unless the table holds a version `guard` does not replace.
pub async fn put(
    client: &Client,
    table: &str,
    state: &PhotoState,
    guard: Guard,
) -> Result<Written, Error> {
    let comparison = match guard {
        Guard::Older => "<",
        Guard::OlderOrSame => "<=",
    };
    let answer = client
        .put_item()
        .table_name(table)
        .set_item(Some(item(state)?))
        .condition_expression(format!(
            "attribute_not_exists(#id) OR #version {comparison} :version"
        ))
        .expression_attribute_names("#id", PHOTO_ID)
        .expression_attribute_names("#version", VERSION)
        .expression_attribute_values(":version", AttributeValue::N(state.version.to_string()))
        .send()
        .await;
    match answer {
        Ok(_) => Ok(Written::Stored),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(Written::Superseded)
        }
        Err(error) => Err(error.into()),
    }
}
