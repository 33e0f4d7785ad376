//! A product's gallery order, set by its owner.
//!
//! A reorder appends one `PhotoReordered` to each of the product's photos whose place changes
//! (so it shows in their histories), in one statement that also moves the product's
//! `order_version` on from the version the reorder was decided against. Two reorders of one
//! product never interleave: the later one to commit finds the version moved (or a photo's
//! sequence taken), appends nothing, and decides again against the winner's order.
//!
//! The photos the seller names come first, in that order; the product's other photos follow,
//! newest first. A photo added later has no place yet, so it follows every placed photo.
//!
//! An operator settles a dispute over a product by transferring it ([`PhotoStore::transfer`]):
//! one transaction moves the product to its new owner (only if its owner is still the one the
//! transfer was decided against) and appends `PhotoProductTransferred` to each of its photos.

use std::collections::HashSet;

use catalog_events::{PhotoState, PhotoStatus, TraceParent};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use futures_util::TryStreamExt;
use uuid::Uuid;

use super::read::{self, Photos, Start};
use super::{CONFLICT_ATTEMPTS, Cause, Columns, CommandError, PhotoStore, RACE_BACKOFF};
use crate::aggregate::{Photo, PhotoCommand, PhotoError, PhotoServices};

/// Appends a reorder's events (`$3` to `$8`: one array per column, a row per photo) if the
/// product's order is still at version `$2`, moving it on by one.
const APPEND_REORDER: &str = "WITH bumped AS ( \
      UPDATE products SET order_version = order_version + 1 \
      WHERE product_id = $1 AND order_version = $2 RETURNING 1) \
    INSERT INTO events \
    (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
    SELECT $9, e.* \
    FROM UNNEST($3::text[], $4::bigint[], $5::text[], $6::text[], $7::jsonb[], $8::jsonb[]) AS e \
    WHERE EXISTS (SELECT 1 FROM bumped)";

/// Appends a transfer's events (`$1` to `$6`: one array per column, a row per photo).
const APPEND_TRANSFER: &str = "INSERT INTO events \
    (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
    SELECT $7, e.* \
    FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[]) AS e";

/// Moves a product (`$1`) to its new owner (`$2`) if its owner is still `$3` (none: unowned).
const MOVE_PRODUCT: &str = "INSERT INTO products (product_id, seller_id) VALUES ($1, $2) \
    ON CONFLICT (product_id) DO UPDATE \
    SET seller_id = $2, claimed_at = now(), order_version = products.order_version + 1 \
    WHERE products.seller_id IS NOT DISTINCT FROM $3";

/// What a product transfer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transferred {
    /// The owner before, if the product had one.
    pub from_seller_id: Option<String>,
    /// The photos whose histories record it.
    pub photos: usize,
}

/// A product's gallery order as its owner sees it: every live photo of the owner's, the placed
/// ones first by their place, then the others newest first (the gallery shows those ready).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductOrder {
    /// How many reorders of the product are stored.
    pub version: u64,
    pub photo_ids: Vec<Uuid>,
}

/// The owner of a product and the version of its order.
struct Product {
    seller_id: String,
    order_version: i64,
}

impl PhotoStore {
    /// Orders the gallery of `product_id`: `photo_ids` first, the product's other photos
    /// after them, newest first. Returns the order's version after it (unchanged if the order
    /// already was this one).
    pub async fn reorder(
        &self,
        seller_id: &str,
        product_id: &str,
        photo_ids: &[Uuid],
        cause: impl Into<Cause>,
    ) -> Result<u64, CommandError> {
        self.reorder_if(seller_id, product_id, photo_ids, cause, None)
            .await
    }

    /// [`PhotoStore::reorder`], only while the order is at one of `versions` (an `If-Match`
    /// a client sent with the order it read): otherwise [`PhotoError::VersionMoved`], and
    /// nothing is appended.
    pub async fn reorder_if(
        &self,
        seller_id: &str,
        product_id: &str,
        photo_ids: &[Uuid],
        cause: impl Into<Cause>,
        versions: Option<&[u64]>,
    ) -> Result<u64, CommandError> {
        let metadata = own_metadata(cause.into());
        deciding_again(|| self.try_reorder(seller_id, product_id, photo_ids, &metadata, versions))
            .await
    }

    /// The gallery order of `seller_id`'s product `product_id`.
    pub async fn order_of(
        &self,
        seller_id: &str,
        product_id: &str,
    ) -> Result<ProductOrder, CommandError> {
        let product = self.owned(seller_id, product_id).await?;
        let mut photos = self.live_photos_of(seller_id, product_id).await?;
        photos.sort_by_key(|photo| match photo.position {
            Some(position) => (0, i64::from(position), Uuid::nil(), photo.photo_id),
            None => (
                1,
                -photo.created_at.timestamp_micros(),
                photo.photo_id,
                Uuid::nil(),
            ),
        });
        Ok(ProductOrder {
            version: u64::try_from(product.order_version).unwrap_or_default(),
            photo_ids: photos.iter().map(|photo| photo.photo_id).collect(),
        })
    }

    /// One try: `None` if another command committed first.
    async fn try_reorder(
        &self,
        seller_id: &str,
        product_id: &str,
        photo_ids: &[Uuid],
        metadata: &serde_json::Value,
        versions: Option<&[u64]>,
    ) -> Result<Option<u64>, CommandError> {
        let product = self.owned(seller_id, product_id).await?;
        let current = u64::try_from(product.order_version).unwrap_or_default();
        if versions.is_some_and(|versions| !versions.contains(&current)) {
            return Err(PhotoError::VersionMoved { current }.into());
        }
        let live = self.live_photos_of(seller_id, product_id).await?;
        let order = order(live, photo_ids, product_id)?;

        let mut rows = Rows::default();
        for (position, state) in (1..).zip(order) {
            let command = PhotoCommand::Place {
                seller_id: seller_id.to_owned(),
                product_id: product_id.to_owned(),
                position,
            };
            rows.decide(state, command, &self.services, metadata)
                .await?;
        }
        if rows.ids.is_empty() {
            return Ok(Some(current));
        }
        let reorder = sqlx::query(APPEND_REORDER)
            .bind(product_id)
            .bind(product.order_version);
        let appended = rows.bound_to(reorder).execute(&self.pool).await;
        match appended {
            Ok(done) if done.rows_affected() == 0 => Ok(None),
            Ok(_) => Ok(Some(current + 1)),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Gives `product_id` to `to_seller_id` (an operator settling a dispute), recording it on
    /// every photo of the product. Transferring a product to its owner changes nothing.
    pub async fn transfer(
        &self,
        product_id: &str,
        to_seller_id: &str,
        cause: impl Into<Cause>,
    ) -> Result<Transferred, CommandError> {
        let metadata = own_metadata(cause.into());
        deciding_again(|| self.try_transfer(product_id, to_seller_id, &metadata)).await
    }

    /// One try: `None` if the owner or a photo changed meanwhile.
    async fn try_transfer(
        &self,
        product_id: &str,
        to_seller_id: &str,
        metadata: &serde_json::Value,
    ) -> Result<Option<Transferred>, CommandError> {
        let from_seller_id = self.product(product_id).await?.map(|owner| owner.seller_id);
        if from_seller_id.as_deref() == Some(to_seller_id) {
            return Ok(Some(Transferred {
                from_seller_id,
                photos: 0,
            }));
        }
        let photos = self.photos_of(product_id, None).await?;
        let mut rows = Rows::default();
        for state in &photos {
            let command = PhotoCommand::TransferProduct {
                from_seller_id: from_seller_id.clone(),
                to_seller_id: to_seller_id.to_owned(),
            };
            rows.decide(state.clone(), command, &self.services, metadata)
                .await?;
        }
        let mut transaction = self.pool.begin().await?;
        let moved = sqlx::query(MOVE_PRODUCT)
            .bind(product_id)
            .bind(to_seller_id)
            .bind(&from_seller_id)
            .execute(&mut *transaction)
            .await?;
        if moved.rows_affected() == 0 {
            return Ok(None);
        }
        let appended = rows
            .bound_to(sqlx::query(APPEND_TRANSFER))
            .execute(&mut *transaction)
            .await;
        match appended {
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Ok(None),
            Err(error) => Err(error.into()),
            Ok(_) => {
                transaction.commit().await?;
                tracing::info!(
                    product_id,
                    ?from_seller_id,
                    to_seller_id,
                    photos = photos.len(),
                    "product transferred"
                );
                Ok(Some(Transferred {
                    from_seller_id,
                    photos: photos.len(),
                }))
            }
        }
    }

    /// The product, if it is `seller_id`'s.
    async fn owned(&self, seller_id: &str, product_id: &str) -> Result<Product, CommandError> {
        match self.product(product_id).await? {
            Some(product) if product.seller_id == seller_id => Ok(product),
            Some(_) => Err(PhotoError::ProductOwned(product_id.to_owned()).into()),
            None => Err(PhotoError::NotFound.into()),
        }
    }

    /// `seller_id`'s photos of the product that are not deleted.
    async fn live_photos_of(
        &self,
        seller_id: &str,
        product_id: &str,
    ) -> Result<Vec<PhotoState>, CommandError> {
        let mut photos = self.photos_of(product_id, Some(seller_id)).await?;
        photos.retain(|photo| photo.status != PhotoStatus::Deleted);
        Ok(photos)
    }

    async fn product(&self, product_id: &str) -> Result<Option<Product>, CommandError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT seller_id, order_version FROM products WHERE product_id = $1")
                .bind(product_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(seller_id, order_version)| Product {
            seller_id,
            order_version,
        }))
    }

    /// The photos of the product (only `seller_id`'s, if given), deleted ones too, as they are
    /// now.
    async fn photos_of(
        &self,
        product_id: &str,
        seller_id: Option<&str>,
    ) -> Result<Vec<PhotoState>, CommandError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT aggregate_id FROM events \
             WHERE aggregate_type = $1 AND event_type = 'PhotoUploadRequested' \
               AND payload->>'product_id' = $2 \
               AND ($3::text IS NULL OR payload->>'seller_id' = $3)",
        )
        .bind(catalog_events::AGGREGATE_TYPE)
        .bind(product_id)
        .bind(seller_id)
        .fetch_all(&self.pool)
        .await?;
        let starts: Vec<Start> = ids.into_iter().map(Start::first).collect();
        let photos: Vec<PhotoState> = read::latest(&self.pool, Photos::These(&starts))
            .try_collect()
            .await
            .map_err(|error| CommandError::Store(error.into()))?;
        Ok(photos)
    }
}

/// The product's photos in their new order: those named first, in the order given, then the
/// others, newest first. A named photo that is not one of them (another product's, another
/// seller's, deleted or unknown) or named twice is refused.
fn order(
    mut photos: Vec<PhotoState>,
    named: &[Uuid],
    product_id: &str,
) -> Result<Vec<PhotoState>, PhotoError> {
    let mut seen = HashSet::new();
    let mut ordered = Vec::with_capacity(photos.len());
    for id in named {
        let index = photos
            .iter()
            .position(|photo| photo.photo_id == *id)
            .filter(|_| seen.insert(*id))
            .ok_or_else(|| PhotoError::NotInProduct(product_id.to_owned()))?;
        ordered.push(photos.swap_remove(index));
    }
    photos.sort_by_key(|photo| std::cmp::Reverse((photo.created_at, photo.photo_id)));
    ordered.append(&mut photos);
    Ok(ordered)
}

/// A reorder's or a transfer's events: the photo of each, and the columns of the rest.
#[derive(Default)]
struct Rows {
    ids: Vec<String>,
    columns: Columns,
}

impl Rows {
    /// `query` with the rows bound after its own parameters: the photo ids, one array per
    /// column, then the aggregate type (the order both statements number them in).
    fn bound_to(
        self,
        query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(self.ids)
            .bind(self.columns.sequences)
            .bind(self.columns.types)
            .bind(self.columns.versions)
            .bind(self.columns.payloads)
            .bind(self.columns.metadata)
            .bind(catalog_events::AGGREGATE_TYPE)
    }

    /// Decides `command` on the photo at `state` and adds the events it causes.
    async fn decide(
        &mut self,
        state: PhotoState,
        command: PhotoCommand,
        services: &PhotoServices,
        metadata: &serde_json::Value,
    ) -> Result<(), CommandError> {
        let (id, sequence) = (state.photo_id.to_string(), state.version);
        let mut photo = Photo::from(state);
        let sink = EventSink::default();
        photo.handle(command, services, &sink).await?;
        for (n, fact) in (1..).zip(sink.collect().await) {
            self.ids.push(id.clone());
            // A reorder or a transfer carries nothing personal: nothing to seal.
            self.columns
                .push(sequence + n, &fact, metadata, (&id, None))?;
        }
        Ok(())
    }
}

/// The metadata of an operation on many photos: its cause, in a trace of its own.
fn own_metadata(cause: Cause) -> serde_json::Value {
    cause.metadata(&cause.trace.unwrap_or_else(TraceParent::new_root).child())
}

/// Tries `once` until it decides (`Some`), deciding again when another command committed
/// first, at most [`CONFLICT_ATTEMPTS`] times.
async fn deciding_again<T, Once>(mut once: impl FnMut() -> Once) -> Result<T, CommandError>
where
    Once: Future<Output = Result<Option<T>, CommandError>>,
{
    let mut attempt = 1;
    loop {
        match once().await? {
            Some(decided) => return Ok(decided),
            None if attempt < CONFLICT_ATTEMPTS => {
                RACE_BACKOFF.wait(attempt).await;
                attempt += 1;
            }
            None => return Err(CommandError::Conflict),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(n: u128, minute: u32) -> PhotoState {
        let mut state = PhotoState::new(&catalog_events::UploadRequested {
            occurred_at: chrono::DateTime::from_timestamp(i64::from(minute) * 60, 0).unwrap(),
            photo_id: Uuid::from_u128(n),
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
        state.version = 3;
        state
    }

    fn ids(photos: &[PhotoState]) -> Vec<u128> {
        photos
            .iter()
            .map(|photo| photo.photo_id.as_u128())
            .collect()
    }

    #[test]
    fn named_photos_come_first_and_the_rest_follow_newest_first() {
        let photos = vec![photo(1, 1), photo(2, 2), photo(3, 3), photo(4, 4)];
        let ordered = order(photos, &[Uuid::from_u128(2), Uuid::from_u128(1)], "p").unwrap();
        assert_eq!(ids(&ordered), [2, 1, 4, 3]);
    }

    #[test]
    fn a_photo_named_twice_or_not_of_the_product_is_refused() {
        let photos = || vec![photo(1, 1), photo(2, 2)];
        let twice = order(photos(), &[Uuid::from_u128(1), Uuid::from_u128(1)], "p");
        let stranger = order(photos(), &[Uuid::from_u128(9)], "p");
        for refused in [twice, stranger] {
            assert_eq!(refused.unwrap_err(), PhotoError::NotInProduct("p".into()));
        }
    }
}
