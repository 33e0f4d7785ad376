//! The lane of work that follows a photo's `ready`: its AVIF variants.
//!
//! A render makes a photo ready; the AVIF of its variants (libaom at the speed that
//! compresses best for the time, about 0.7 CPU-seconds a photo) only makes it lighter to
//! serve. So the job that rendered the photo hands the pixels to this lane and frees its slot
//! for the next photo, and the lane encodes one photo at a time on threads of the lowest CPU
//! priority: under load, renders come first and the AVIF catch up when the CPU is free. The
//! lane holds at most [`BACKLOG`] photos; past that, a job waits to hand its photo over, so a
//! sustained overload slows renders rather than growing the backlog without bound.
//!
//! What the lane holds is in memory only: a processor that stops drains it first, but one that
//! is killed loses it, and those photos stay ready without AVIF until they are reprocessed.
//!
//! Here are both the lane (its queue, its threads) and the processor's side of it: the loop
//! that takes each photo off the lane, encodes its later formats within the memory budget,
//! stores those lighter than their JPEG beside the photo's variants and records them
//! (`AddFormat`), in the photo's trace. How many photos wait is `catalog_avif_backlog`; each photo's encode is timed
//! (`catalog_avif_encode_seconds`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use catalog_event_store::aggregate::PhotoCommand;
use catalog_event_store::store::{Cause, CommandError};
use catalog_events::{AVIF, TraceParent, VariantFormat, VariantName};
use catalog_images::{LaterFormats, Pixels, Rejection};
use futures_util::future::try_join_all;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::render::variant_key;
use crate::{JOB_OVERHEAD_BYTES, Outcome, Processor};

/// Photos waiting for their AVIF at most (about 6 MiB of pixels each).
pub const BACKLOG: usize = 16;

/// A ready photo whose later formats are still to make.
#[derive(Debug)]
pub struct Later {
    pub photo: Uuid,
    /// Where its variants are: the later formats go beside them.
    pub prefix: String,
    pub pixels: Vec<Pixels>,
    /// What rendered it, in the photo's trace.
    pub cause: Cause,
}

/// The lane's two ends.
pub fn lane() -> (mpsc::Sender<Later>, mpsc::Receiver<Later>) {
    mpsc::channel(BACKLOG)
}

/// Runs `work` on a new thread of the lowest CPU priority (the highest nice value; threads it
/// starts inherit it) and returns its result. A thread of its own, because lowering a
/// thread's priority cannot be undone without privileges: a pool's thread would keep it.
pub async fn at_lowest_priority<T, F>(work: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("later-formats".into())
        .spawn(move || {
            if let Err(error) =
                thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
            {
                tracing::warn!(?error, "could not lower the priority of the AVIF encodes");
            }
            let _ = done.send(work());
        })?;
    Ok(result.await?)
}

impl Processor {
    /// Hands a ready photo's pixels to the lane, waiting while it is full (a sustained
    /// overload slows renders).
    pub(crate) async fn hand_over(&self, later: Later) {
        let photo = later.photo;
        metrics::gauge!("catalog_avif_backlog").increment(1.0);
        if self.later.send(later).await.is_err() {
            metrics::gauge!("catalog_avif_backlog").decrement(1.0);
            tracing::warn!(%photo, "stopping: the photo's AVIF variants are not made");
        }
    }

    /// A request for a ready photo's later formats (`PhotoFormatsRequested`, from `catalog
    /// backfill` or the resync): its original is rendered again for the pixels, which go to
    /// the lane like a render's. A photo that moved on, or has settled its AVIF meanwhile, is
    /// left as it is; an original that no longer renders is logged, and the photo stays as it
    /// is. Held within the job's deadline, its message kept hidden.
    pub(crate) async fn make_later(
        &self,
        photo: Uuid,
        trace: Option<TraceParent>,
        receipt: &str,
    ) -> Outcome {
        let _hidden = self.queue.keep_hidden(receipt);
        let cause = crate::job_cause(format!("process-images:{photo}"), trace);
        match tokio::time::timeout(self.deadline, self.rerender(photo, cause)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::warn!(%photo, deadline = ?self.deadline, "a later-formats job ran past its deadline");
                Outcome::Done
            }
        }
    }

    async fn rerender(&self, photo: Uuid, cause: Cause) -> Outcome {
        let state = match self.store.load(photo).await {
            Ok(Some(state)) if state.lacks(AVIF) => state,
            Ok(_) => return Outcome::Done,
            Err(error) => return Outcome::Retry(format!("{error:#}")),
        };
        let Some(prefix) = state
            .variants
            .values()
            .next()
            .and_then(|variant| variant.key.rsplit_once('/'))
            .map(|(folder, _)| folder.to_owned())
        else {
            return Outcome::Done;
        };
        let original = match self
            .download(&state.object_key, state.checksum_sha256.as_deref())
            .await
        {
            Ok(Ok(original)) => original,
            Ok(Err(rejection)) => {
                tracing::warn!(%photo, %rejection, "the original no longer renders: no AVIF is made");
                return Outcome::Done;
            }
            Err(error) => return Outcome::Retry(format!("{error:#}")),
        };
        let pixels = match self.render(original).await {
            Ok(Ok(rendition)) => rendition.later,
            Ok(Err(rejection)) => {
                tracing::warn!(%photo, %rejection, "the original no longer renders: no AVIF is made");
                return Outcome::Done;
            }
            Err(error) => return Outcome::Retry(format!("{error:#}")),
        };
        // No pixels (a transparent photo keeps no AVIF): the lane settles it with none.
        self.hand_over(Later {
            photo,
            prefix,
            pixels,
            cause,
        })
        .await;
        Outcome::Done
    }

    /// Makes the later formats of each photo handed over, one photo at a time, until
    /// `shutdown`; then closes the lane and makes those still in it.
    pub(crate) async fn later_lane(
        self: Arc<Self>,
        mut queue: mpsc::Receiver<Later>,
        shutdown: CancellationToken,
    ) {
        loop {
            let later = tokio::select! {
                later = queue.recv() => later,
                () = shutdown.cancelled() => None,
            };
            match later {
                Some(later) => self.take_later(later).await,
                None => break,
            }
        }
        queue.close();
        while let Some(later) = queue.recv().await {
            self.take_later(later).await;
        }
    }

    /// Takes one photo off the lane and makes its later formats, in its trace.
    async fn take_later(&self, later: Later) {
        metrics::gauge!("catalog_avif_backlog").decrement(1.0);
        let span = tracing::info_span!("later_formats", photo_id = %later.photo,
            trace_id = tracing::field::Empty);
        if let Some(trace) = &later.cause.trace {
            catalog_runtime::trace::follow(&span, trace);
        }
        self.add_later_formats(later).instrument(span).await;
    }

    /// Makes the formats that come after the photo is ready (AVIF) from the pixels its render
    /// kept, stores them beside the variants and records them. The photo is ready without
    /// them, so a failure here is logged and the job still ends: the next reprocess makes them.
    async fn add_later_formats(&self, later: Later) {
        let Later {
            photo,
            prefix,
            pixels,
            cause,
        } = later;
        let prefix = prefix.as_str();
        let pixels_count = pixels.len();
        let started = Instant::now();
        let encoded = self.encode_later(pixels).await;
        metrics::histogram!("catalog_avif_encode_seconds").record(started.elapsed().as_secs_f64());
        let encoded = match encoded {
            Ok(Ok(later)) => {
                if let Some(quality) = later.quality {
                    crate::render::record_quality("avif", quality);
                }
                crate::render::record_alternates("avif", pixels_count, later.formats.len());
                later.formats
            }
            Ok(Err(rejection)) => {
                tracing::warn!(%photo, %rejection, "the AVIF variants could not be made");
                return;
            }
            Err(error) => {
                tracing::warn!(%photo, error = format!("{error:#}"), "the AVIF variants could not be made");
                return;
            }
        };
        if encoded.is_empty() {
            tracing::info!(%photo, "no AVIF variant is lighter than its JPEG: none is offered");
        }
        let stored = encoded.iter().map(|(name, alternate)| async move {
            anyhow::Ok((*name, self.store_format(prefix, *name, alternate).await?))
        });
        let files: BTreeMap<VariantName, VariantFormat> = match try_join_all(stored).await {
            Ok(files) => files.into_iter().collect(),
            Err(error) => {
                tracing::warn!(%photo, error = format!("{error:#}"), "the AVIF variants could not be stored");
                return;
            }
        };
        let command = PhotoCommand::AddFormat {
            folder: prefix.to_owned(),
            format: AVIF.to_owned(),
            files,
        };
        let cause = Cause::new(
            cause.correlation_id,
            cause
                .trace
                .map(|trace| catalog_runtime::trace::handed_on(&tracing::Span::current(), &trace)),
        );
        match self.store.execute(photo, command, &cause).await {
            Ok(_) => {}
            Err(CommandError::Refused(refusal)) => {
                // Deleted or reprocessed while they were made: they serve nothing.
                tracing::info!(%photo, %refusal, "the AVIF variants came after the photo moved on");
                let keys = encoded
                    .iter()
                    .map(|(name, alternate)| variant_key(prefix, *name, alternate.content_type))
                    .collect();
                self.delete_files(keys).await;
            }
            Err(error) => {
                tracing::warn!(%photo, %error, "the AVIF variants could not be recorded");
            }
        }
    }

    /// Encodes the later formats at the lowest CPU priority, within the memory budget (the
    /// pixels and the encoders' overhead).
    async fn encode_later(
        &self,
        pixels: Vec<Pixels>,
    ) -> anyhow::Result<Result<LaterFormats, Rejection>> {
        let bytes = pixels.iter().map(|p| p.rgb.len() as u64).sum::<u64>() + JOB_OVERHEAD_BYTES;
        let memory = self.reserve(bytes).await?;
        at_lowest_priority(move || {
            let encoded = catalog_images::variants::later_formats(&pixels);
            drop(memory);
            encoded
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This thread's nice value, from `/proc` (the 19th field of its `stat`).
    fn nice() -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        fields.get(16).and_then(|n| n.parse().ok()).unwrap_or(0)
    }

    #[tokio::test]
    async fn the_later_work_runs_at_the_lowest_priority_and_leaves_this_thread_as_it_was() {
        let before = nice();
        let (outer, inner) = at_lowest_priority(|| {
            let inner = std::thread::spawn(nice).join().unwrap_or(0);
            (nice(), inner)
        })
        .await
        .unwrap_or((0, 0));
        assert_eq!(outer, 19, "the lane's thread");
        assert_eq!(inner, 19, "a thread it starts");
        assert_eq!(nice(), before);
    }
}
