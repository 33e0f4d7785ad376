//! A seller's erasure (`catalog erase-seller`): what a seller who leaves is owed under the
//! right to erasure.
//!
//! Each of the seller's photos that is not deleted yet is deleted, as by `DELETE` (a
//! `PhotoDeleted` each: the read model keeps a tombstone, the image processor purges the
//! files, and the webhooks stop). Then every data key of the seller's photos is forgotten
//! ([`crate::personal`]), their snapshots, the seller's webhook secrets and idempotency answers
//! are deleted. Running it again finds nothing left to do, so an erasure cut short is simply
//! run again.

use std::fmt;

use uuid::Uuid;

use super::{CommandError, PhotoStore};
use crate::aggregate::PhotoCommand;

/// What an erasure did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Erased {
    /// The seller's photos, deleted ones included.
    pub photos: u64,
    /// Those it deleted now.
    pub deleted: u64,
    pub data_keys: u64,
    pub webhook_secrets: u64,
    pub idempotency_keys: u64,
}

impl fmt::Display for Erased {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} photo(s), {} deleted now; {} data key(s), {} webhook secret(s) and {} \
             idempotency answer(s) erased",
            self.photos, self.deleted, self.data_keys, self.webhook_secrets, self.idempotency_keys
        )
    }
}

impl PhotoStore {
    /// Erases `seller` (see the module's documentation); `cause` is stored with each deletion.
    pub async fn erase_seller(&self, seller: &str, cause: &str) -> Result<Erased, CommandError> {
        let photos: Vec<String> = sqlx::query_scalar(
            "SELECT aggregate_id FROM events \
             WHERE seller_id = $1 AND aggregate_type = $2 AND sequence = 1",
        )
        .bind(seller)
        .bind(catalog_events::AGGREGATE_TYPE)
        .fetch_all(&self.pool)
        .await?;
        let mut erased = Erased {
            photos: photos.len() as u64,
            ..Erased::default()
        };
        for photo in &photos {
            let Ok(photo_id) = Uuid::parse_str(photo) else {
                continue;
            };
            let before = self.load(photo_id).await?;
            if before.is_none_or(|state| state.status == catalog_events::PhotoStatus::Deleted) {
                continue;
            }
            let command = PhotoCommand::Delete {
                seller_id: seller.to_owned(),
            };
            self.execute(photo_id, command, cause).await?;
            erased.deleted += 1;
        }
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM photo_snapshots WHERE photo_id IN \
             (SELECT photo_id FROM photo_keys WHERE seller_id = $1)",
        )
        .bind(seller)
        .execute(&mut *transaction)
        .await?;
        erased.data_keys = sqlx::query("DELETE FROM photo_keys WHERE seller_id = $1")
            .bind(seller)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        erased.webhook_secrets = sqlx::query("DELETE FROM webhook_secrets WHERE seller_id = $1")
            .bind(seller)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM webhook_replays WHERE seller_id = $1")
            .bind(seller)
            .execute(&mut *transaction)
            .await?;
        erased.idempotency_keys = sqlx::query("DELETE FROM idempotency_keys WHERE seller_id = $1")
            .bind(seller)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        transaction.commit().await?;
        tracing::info!(%seller, %erased, "seller erased");
        Ok(erased)
    }
}
