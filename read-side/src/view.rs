//! The photo state in a read-model item; the read API shows it as
//! [`catalog_events::view::PhotoView`].

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use catalog_events::PhotoState;
use catalog_events::read_model::STATE;

/// The photo state an item holds.
pub fn state(item: &HashMap<String, AttributeValue>) -> Result<PhotoState, serde_dynamo::Error> {
    let state = item
        .get(STATE)
        .cloned()
        .unwrap_or(AttributeValue::Null(true));
    serde_dynamo::from_attribute_value(state)
}
