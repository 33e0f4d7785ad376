//! What every process of the catalog runs on, whichever part it is:
//!
//! - [`aws`]: the AWS SDK configuration from the standard variables (`AWS_ENDPOINT_URL`,
//!   `AWS_REGION`, credentials) and the S3 client every part builds the same way.
//! - [`backoff`]: the one doubling, capped, jittered wait of every retry loop.
//! - [`metrics`]: the process's Prometheus endpoint, the histograms' buckets, and the
//!   heartbeat a worker's health check reads.
//! - [`queue`]: the one SQS consumer. The image processor, the notifier and the projector
//!   each read a queue of `resources.json` through it: long-polled receives that never take
//!   more messages than there are free job slots, each message opened into its envelope,
//!   batched deletes, visibility changes. It is also where a queue's URL is looked up.
//! - [`redrive`]: moving a queue's dead letters back to it, for operators.
//! - [`settings`]: the settings more than one process reads, declared once.
//! - [`shutdown`]: the signal (SIGTERM from ECS, Ctrl-C) on which every worker drains.
//! - [`trace`]: a unit of work joining a photo's trace (its logs' `trace_id`, its exported
//!   span's parent).

pub mod aws;
pub mod backoff;
pub mod metrics;
pub mod queue;
pub mod redrive;
pub mod settings;
pub mod shutdown;
pub mod trace;
