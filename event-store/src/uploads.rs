//! Recording an upload: the original (or a new original, replacing it) is in the bucket, as
//! the photo declared it. The client says so (`POST /v1/photos/{id}/upload-complete`), or S3
//! does (its "Object Created" event, which the image processor receives); either way the same
//! checks run and `PhotoUploaded` (`PhotoReplacementUploaded`) is appended once, whichever
//! comes first: the second finds it recorded and appends nothing.

use catalog_events::{PhotoState, PhotoStatus};

use crate::aggregate::{PhotoCommand, PhotoError};
use crate::originals::Originals;
use crate::store::{Cause, CommandError, PhotoStore, Receipt};

/// Why an upload was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum NotRecorded {
    #[error("nothing has been uploaded for this photo yet")]
    Missing,
    #[error("the uploaded file's SHA-256 differs from the declared checksum_sha256")]
    ChecksumDiffers,
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("the originals bucket: {0}")]
    Bucket(Box<dyn std::error::Error + Send + Sync>),
}

/// Records the upload of `photo`'s original if it is pending, or of its new original if one
/// is declared (keeping the request's answer with it, under `receipt`), after checking the
/// object (its size is the aggregate's to judge; its checksum, where the store keeps one, is
/// checked here). The original stops being an unconfirmed upload (its expiry tag goes) only
/// once it passed.
pub async fn record(
    store: &PhotoStore,
    originals: &Originals,
    photo: &PhotoState,
    cause: impl Into<Cause>,
    receipt: Option<&Receipt<'_>>,
) -> Result<PhotoState, NotRecorded> {
    let seller_id = photo.seller_id.clone();
    let command = match &photo.replacement {
        Some(replacement) if !replacement.uploaded => PhotoCommand::ConfirmReplacement {
            seller_id,
            stored_size: checked(
                originals,
                &replacement.object_key,
                replacement.size_bytes,
                replacement.checksum_sha256.as_deref(),
            )
            .await?,
        },
        _ if photo.status == PhotoStatus::PendingUpload => PhotoCommand::ConfirmUpload {
            seller_id,
            stored_size: checked(
                originals,
                &photo.object_key,
                photo.size_bytes,
                photo.checksum_sha256.as_deref(),
            )
            .await?,
        },
        _ => PhotoCommand::ConfirmUpload {
            seller_id,
            stored_size: photo.size_bytes,
        },
    };
    Ok(store
        .execute_with(photo.photo_id, command, cause, receipt)
        .await?)
}

/// The size of the object at `key`, once it is found to be the declared file (and kept).
async fn checked(
    originals: &Originals,
    key: &str,
    size_bytes: u64,
    checksum: Option<&str>,
) -> Result<u64, NotRecorded> {
    let object = originals
        .head(key)
        .await
        .map_err(NotRecorded::Bucket)?
        .ok_or(NotRecorded::Missing)?;
    if let (Some(declared), Some(stored)) = (checksum, &object.checksum_sha256)
        && declared != stored
    {
        return Err(NotRecorded::ChecksumDiffers);
    }
    if object.size_bytes != size_bytes {
        return Err(CommandError::Refused(PhotoError::SizeMismatch {
            declared: size_bytes,
            stored: object.size_bytes,
        })
        .into());
    }
    // Untag before confirming: a confirmed photo's original must never expire.
    originals.keep(key).await.map_err(NotRecorded::Bucket)?;
    Ok(object.size_bytes)
}
