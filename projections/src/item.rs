//! The one guarded write of a photo's read-model item (its layout is `catalog-read-model`'s)
//! that the projector and the resync both use: an item is replaced only by a newer version of the
//! same photo, so duplicates and reordering change nothing and a late event cannot undo a
//! later one (a deletion included). The item keeps when it was written (`projected_at`), which
//! `catalog trace` shows.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use catalog_events::PhotoState;
use catalog_read_model::{PHOTO_ID, PROJECTED_AT, VERSION};

type Error = Box<dyn std::error::Error + Send + Sync>;

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
        .set_item(Some(catalog_read_model::encode(state)?))
        .item(
            PROJECTED_AT,
            AttributeValue::S(
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ),
        )
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
