//! Everything derived from the event store into DynamoDB, and the resources it lives in.
//!
//! - [`item`]: a photo's read-model item and the version-guarded write that both writers use.
//! - [`projector`]: the SQS consumer that keeps the read model up to date from the bus.
//! - [`resync`]: the nightly job that folds every photo from the event store and repairs what
//!   drifted in the read model.
//! - [`local_stack`]: creates the resources of `infra-cdk/resources.json` in the local stack
//!   (for `./dev up` and for tests, which prefix every name to get their own).

pub mod item;
pub mod local_stack;
pub mod projector;
pub mod resync;

/// The AWS SDK configuration from the standard variables (`AWS_ENDPOINT_URL` and friends).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_from_env().await
}
