//! What the listings (a gallery, an inventory) share: the page query, the page, and one index
//! listing read a page at a time.
//!
//! A listing is the items of one read-model index whose key is one value (a product, a
//! seller, a seller's status), in the order of the index's sort key. A page is read from
//! where the client's cursor says, one item more than asked for so that a next page exists
//! only if that item does; the cursor is refused unless this very listing gave it (see
//! `crate::cursor`). A page's tag is a digest of what it shows.
//!
//! A listing may also keep only the items that meet conditions (the inventory's filters
//! beside the index it reads): DynamoDB checks them as it reads the index, and the page is
//! read on until it is full, so filtered pages end exactly like the others.

use actix_web::http::header::EntityTag;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use catalog_events::PhotoStatus;
use catalog_events::view::PhotoView;
use catalog_read_model::{PHOTO_ID, STATE};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::{ReadState, caching, decode};
use crate::cursor;
use crate::error::ReadError;

const DEFAULT_LIMIT: i32 = 20;
const MAX_LIMIT: i32 = 100;
/// Items read at a time from an index whose items a filter may drop: a filtered page does not
/// take a round trip per item it keeps.
const FILTERED_READ: i32 = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Photos in a page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i32>,
    /// The `next_cursor` of the page before (opaque).
    cursor: Option<String>,
    /// Only photos in this status (the inventory only).
    #[param(value_type = Option<PhotoStatus>)]
    pub(super) status: Option<String>,
    /// Only photos of this product (the inventory only).
    #[param(max_length = 128, example = "sku-1234")]
    pub(super) product_id: Option<String>,
    /// Only photos with this tag, as the seller wrote it (the inventory only).
    #[param(max_length = 50, example = "red")]
    pub(super) tag: Option<String>,
}

impl PageQuery {
    /// The inventory's filters, which no other listing takes.
    pub(super) fn filters(&self) -> impl Iterator<Item = &'static str> {
        [
            ("status", self.status.is_some()),
            ("product_id", self.product_id.is_some()),
            ("tag", self.tag.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
    }
}

/// A page of photos.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(example = json!({"items": [{"photo_id": "3f2b8c1e-5d4a-4e6f-9b7c-1a2d3e4f5a6b", "product_id": "sku-1234", "status": "ready", "version": 4}],
    "next_cursor": "eyJwaG90b19pZCI6IjNmMmI4YzFlIn0"}))]
pub struct Page {
    items: Vec<PhotoView>,
    /// The cursor of the next page, or `null` on the last.
    next_cursor: Option<String>,
}

/// One index listing: the items whose `key` is `value`, in the order of `sort`.
pub(super) struct Listing {
    pub(super) index: &'static str,
    pub(super) key: &'static str,
    pub(super) value: String,
    pub(super) sort: &'static str,
    /// Read backwards (the listed key's newest first) rather than forwards.
    pub(super) newest_first: bool,
    /// What an item must meet to be listed, beside its index key.
    pub(super) conditions: Vec<Condition>,
}

/// A condition on a listed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Condition {
    /// The attribute holds this value.
    Equals(&'static str, String),
    /// The photo has this tag.
    Tagged(String),
}

impl Condition {
    /// The filter expression of `conditions`, with its names and values.
    fn expression(conditions: &[Self]) -> Option<(String, Names, Values)> {
        if conditions.is_empty() {
            return None;
        }
        let mut names = Names::new();
        let mut values = Values::new();
        let mut parts = Vec::new();
        for (n, condition) in conditions.iter().enumerate() {
            let value = format!(":c{n}");
            match condition {
                Self::Equals(attribute, expected) => {
                    names.insert(format!("#c{n}"), (*attribute).to_owned());
                    values.insert(value.clone(), AttributeValue::S(expected.clone()));
                    parts.push(format!("#c{n} = {value}"));
                }
                Self::Tagged(tag) => {
                    names.insert("#state".to_owned(), STATE.to_owned());
                    names.insert("#tags".to_owned(), "tags".to_owned());
                    values.insert(value.clone(), AttributeValue::S(tag.clone()));
                    parts.push(format!("contains(#state.#tags, {value})"));
                }
            }
        }
        Some((parts.join(" AND "), names, values))
    }
}

type Names = std::collections::HashMap<String, String>;
type Values = std::collections::HashMap<String, AttributeValue>;

impl Listing {
    pub(super) async fn page(
        &self,
        state: &ReadState,
        query: &PageQuery,
    ) -> Result<Page, ReadError> {
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ReadError::invalid(
                "limit",
                format!("must be 1 to {MAX_LIMIT}"),
            ));
        }
        let start = query
            .cursor
            .as_deref()
            .map(|cursor| cursor::decode(cursor, self.key, &self.value, self.sort))
            .transpose()?;
        // One more than a page: a next page exists only if it comes. DynamoDB may stop short
        // of it (at 1 MB read, or having read items a filter dropped): then the query goes on
        // from where it stopped.
        let filter = Condition::expression(&self.conditions);
        let mut found = Vec::new();
        let mut start = start;
        loop {
            let wanted = limit + 1 - found.len() as i32;
            let mut query = index_query(state, self.index, self.key, &self.value)
                .scan_index_forward(!self.newest_first)
                .set_exclusive_start_key(start);
            query = match &filter {
                None => query.limit(wanted),
                Some((expression, names, values)) => {
                    let mut query = query
                        .filter_expression(expression)
                        .limit(wanted.max(FILTERED_READ));
                    for (name, attribute) in names {
                        query = query.expression_attribute_names(name, attribute);
                    }
                    for (name, value) in values {
                        query = query.expression_attribute_values(name, value.clone());
                    }
                    query
                }
            };
            let answer = query.send().await?;
            found.extend(answer.items.unwrap_or_default());
            match answer.last_evaluated_key {
                Some(key) if !key.is_empty() && found.len() <= limit as usize => start = Some(key),
                _ => break,
            }
        }
        let next_cursor = if found.len() > limit as usize {
            found.truncate(limit as usize);
            found.last().map(|last| cursor::encode(&self.key_of(last)))
        } else {
            None
        };
        let items = found
            .iter()
            .map(|item| decode(item).map(|found| PhotoView::new(found, &state.variants_base_url)))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    /// The index key of an item of this listing: where the next page starts after it.
    fn key_of(&self, item: &catalog_read_model::Item) -> cursor::Key {
        [PHOTO_ID, self.key, self.sort]
            .into_iter()
            .filter_map(|name| Some((name.to_owned(), item.get(name)?.clone())))
            .collect()
    }
}

/// A query of the items of `index` whose `key` is `value`.
pub(super) fn index_query(
    state: &ReadState,
    index: &str,
    key: &str,
    value: &str,
) -> QueryFluentBuilder {
    state
        .dynamodb
        .query()
        .table_name(&state.table)
        .index_name(index)
        .key_condition_expression("#key = :value")
        .expression_attribute_names("#key", key)
        .expression_attribute_values(":value", AttributeValue::S(value.to_owned()))
}

/// A page's tag: a digest of the versions it shows and of where the next page starts.
pub(super) fn page_tag(page: &Page) -> EntityTag {
    let mut digest = Sha256::new();
    for item in &page.items {
        digest.update(item.photo_id.as_bytes());
        digest.update(item.version.to_be_bytes());
    }
    digest.update(page.next_cursor.as_deref().unwrap_or_default());
    caching::digest_tag(digest)
}
