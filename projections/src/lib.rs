//! Everything derived from the event store into DynamoDB: the only crate that writes the read
//! model (whose items are `catalog-read-model`'s).
//!
//! - [`item`]: the version-guarded write that both writers use.
//! - [`projector`]: the SQS consumer that keeps the read model up to date from the bus.
//! - [`rebuild`]: the blue/green rebuild of the read model into a new layout's table.
//! - [`resync`]: the nightly job that folds every photo from the event store (through the
//!   write side's reading of it) and repairs what drifted in the read model.

pub mod item;
pub mod projector;
pub mod rebuild;
pub mod resync;

/// Marks the job `job` (`resync`, `rebuild`) as having just finished well
/// (`catalog_job_last_success_timestamp_seconds`).
pub fn finished(job: &'static str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64());
    metrics::gauge!("catalog_job_last_success_timestamp_seconds", "job" => job).set(now);
}
