//! A photo's new original: declared while the photo keeps showing its own, uploaded,
//! rendered into the photo's place, or refused (the photo keeps the one before).

use catalog_events::{PhotoEvent, PhotoStatus, ReplacementRequested};
use chrono::{DateTime, Utc};

use super::{Photo, PhotoCommand, PhotoError};

impl Photo {
    /// Decides a command about the photo's new original.
    pub(super) fn decide_replacement(
        &self,
        command: PhotoCommand,
        now: DateTime<Utc>,
    ) -> Result<Vec<PhotoEvent>, PhotoError> {
        use PhotoStatus::*;
        let refuse = |action, status| Err(PhotoError::NotAllowed { action, status });
        match command {
            PhotoCommand::RequestReplacement { seller_id, request } => {
                let photo = self.owned_by(&seller_id)?;
                match (photo.status, &photo.replacement) {
                    (_, Some(replacement)) if replacement.uploaded => {
                        refuse("replace while its new original is rendered", photo.status)
                    }
                    (Ready | Failed, _) => Ok(vec![PhotoEvent::PhotoReplacementRequested(
                        ReplacementRequested {
                            occurred_at: now,
                            ..request
                        },
                    )]),
                    (status, _) => refuse("replace", status),
                }
            }
            PhotoCommand::ConfirmReplacement {
                seller_id,
                stored_size,
            } => {
                let photo = self.owned_by(&seller_id)?;
                match &photo.replacement {
                    Some(replacement) if replacement.uploaded => Ok(vec![]),
                    Some(replacement) if replacement.size_bytes != stored_size => {
                        Err(PhotoError::SizeMismatch {
                            declared: replacement.size_bytes,
                            stored: stored_size,
                        })
                    }
                    Some(_) => Ok(vec![PhotoEvent::PhotoReplacementUploaded {
                        occurred_at: now,
                        size_bytes: stored_size,
                    }]),
                    None => refuse("confirm a new original of", photo.status),
                }
            }
            PhotoCommand::CompleteReplacement {
                width,
                height,
                variants,
                placeholder,
                formats_tried,
            } => {
                let photo = self.existing()?;
                match &photo.replacement {
                    Some(replacement) if replacement.uploaded => {
                        Ok(vec![PhotoEvent::PhotoReplaced {
                            occurred_at: now,
                            width,
                            height,
                            variants,
                            placeholder,
                            formats_tried,
                        }])
                    }
                    _ => refuse("complete a new original of", photo.status),
                }
            }
            PhotoCommand::FailReplacement { reason } => {
                let photo = self.existing()?;
                match &photo.replacement {
                    Some(replacement) if replacement.uploaded => {
                        Ok(vec![PhotoEvent::PhotoReplacementFailed {
                            occurred_at: now,
                            reason,
                        }])
                    }
                    _ => Ok(vec![]),
                }
            }
            _ => unreachable!("not a command about a new original"),
        }
    }
}
