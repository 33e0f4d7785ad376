//! An upload only S3 reported: the `Job::Confirm` of an original's "Object Created" event.
//!
//! S3 reports every original it stores (routed here from the account's default bus), a new
//! original replacing a photo's too. If the client never called upload-complete, the upload
//! is recorded here with the same checks as
//! when the client reports it ([`catalog_event_store::uploads`]: whichever comes first
//! records it, once), and the photo goes on to be rendered. A photo no longer waiting for its
//! upload, or an object that is not the declared file, is left as it is.

use catalog_event_store::store::{Cause, CommandError};
use catalog_event_store::uploads::{self, NotRecorded};
use catalog_events::PhotoStatus;

use crate::jobs::Job;
use crate::{Outcome, Processor};

impl Processor {
    /// Records the upload of the original S3 reported, if its client has not.
    pub(crate) async fn confirm(&self, key: &str) -> Outcome {
        let Some(photo) = Job::photo_of(key, &self.upload_prefix) else {
            tracing::warn!(%key, "an object that is no photo's original");
            return Outcome::Done;
        };
        let awaited = |state: &catalog_events::PhotoState| {
            state.status == PhotoStatus::PendingUpload
                || state
                    .replacement
                    .as_ref()
                    .is_some_and(|new| !new.uploaded && new.object_key == key)
        };
        let state = match self.store.load(photo).await {
            Ok(Some(state)) if awaited(&state) => state,
            Ok(_) => return Outcome::Done,
            Err(error) => return Outcome::Retry(format!("{error:#}")),
        };
        // S3's report carries no trace: the job's log lines and the upload join the photo's
        // own (looked up once, here; unknown, the event store starts one).
        let trace = self.store.trace_of(photo).await.ok().flatten();
        if let Some(trace) = &trace {
            tracing::Span::current().record("trace_id", tracing::field::display(trace.trace_id()));
        }
        let cause = Cause::new(
            format!("s3-upload:{photo}"),
            trace.map(|trace| catalog_runtime::trace::handed_on(&tracing::Span::current(), &trace)),
        );
        match uploads::record(&self.store, &self.uploads, &state, &cause, None).await {
            Ok(_) => {
                tracing::info!(%photo, "an upload only S3 reported is recorded");
                Outcome::Done
            }
            // Not the declared file, or gone since: the photo waits for its client (or expires).
            Err(
                refused @ (NotRecorded::Missing
                | NotRecorded::ChecksumDiffers
                | NotRecorded::Command(CommandError::Refused(_))),
            ) => {
                tracing::info!(%photo, %refused, "an upload S3 reported is not recorded");
                Outcome::Done
            }
            Err(error) => Outcome::Retry(format!("{error:#}")),
        }
    }
}
