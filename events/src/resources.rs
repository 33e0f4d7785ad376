//! The names and routes of the AWS resources, from `infra-cdk/resources.json`: the one list
//! that infra-cdk deploys, `local-stack bootstrap` creates in the local stack, and the services
//! take their default names from. Tests prefix every name to get resources of their own.

use serde::Deserialize;

const RESOURCES_JSON: &str = include_str!("../../infra-cdk/resources.json");

/// Every resource of the service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Resources {
    /// The EventBridge bus the relay publishes to.
    pub bus: String,
    /// The `source` of every event the relay publishes.
    pub event_source: String,
    pub buckets: Buckets,
    /// The read-model table of the current layout.
    pub table: Table,
    /// The table of the layout before, kept while the current one is built beside it and
    /// compared with it (`catalog rebuild`).
    #[serde(default)]
    pub previous_table: Option<Table>,
    pub queues: Vec<Queue>,
    /// S3's own "Object Created" events of the originals bucket: how an upload is recorded
    /// when its client never says it is done.
    pub upload_events: UploadEvents,
}

/// The rule that routes S3's "Object Created" events of originals (on the account's default
/// bus, where S3 delivers them) to a consumer's queue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UploadEvents {
    pub rule: String,
    pub queue_role: QueueRole,
    /// The keys of originals start with this.
    pub key_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Buckets {
    pub originals: String,
    pub variants: String,
    /// The seller inventory page's files.
    pub seller_page: String,
    /// The tag a presigned upload stores its original with until upload-complete removes it;
    /// the originals bucket's lifecycle expires objects still tagged after a few days.
    pub unconfirmed_upload_tag: UploadTag,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UploadTag {
    pub key: String,
    pub value: String,
    pub expire_after_days: u32,
}

impl UploadTag {
    /// As S3's `x-amz-tagging` header takes it.
    pub fn header(&self) -> String {
        format!("{}={}", self.key, self.value)
    }
}

/// The read-model table (its items are `catalog-read-model`'s).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Table {
    pub name: String,
    pub partition_key: String,
    pub indexes: Vec<Index>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Index {
    pub name: String,
    pub partition_key: String,
    pub sort_key: String,
}

/// A consumer's queue, the rule that feeds it and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Queue {
    pub role: QueueRole,
    pub name: String,
    pub dead_letter_queue: String,
    /// Receives before a message moves to the dead-letter queue.
    pub max_receive_count: u32,
    pub visibility_timeout_secs: u32,
    pub rule: String,
    /// The event types routed to the queue; `None` routes every photo event.
    pub detail_types: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueRole {
    Projector,
    Images,
    Notifier,
}

impl Resources {
    /// The resources as deployed.
    pub fn standard() -> Result<Self, serde_json::Error> {
        serde_json::from_str(RESOURCES_JSON)
    }

    /// The same resources with every name prefixed, so that a test has its own.
    pub fn prefixed(&self, prefix: &str) -> Self {
        let name = |name: &str| format!("{prefix}{name}");
        Self {
            bus: name(&self.bus),
            event_source: name(&self.event_source),
            buckets: Buckets {
                originals: name(&self.buckets.originals),
                variants: name(&self.buckets.variants),
                seller_page: name(&self.buckets.seller_page),
                ..self.buckets.clone()
            },
            table: Table {
                name: name(&self.table.name),
                ..self.table.clone()
            },
            previous_table: self.previous_table.as_ref().map(|table| Table {
                name: name(&table.name),
                ..table.clone()
            }),
            queues: self
                .queues
                .iter()
                .map(|queue| Queue {
                    name: name(&queue.name),
                    dead_letter_queue: name(&queue.dead_letter_queue),
                    rule: name(&queue.rule),
                    ..queue.clone()
                })
                .collect(),
            upload_events: UploadEvents {
                rule: name(&self.upload_events.rule),
                ..self.upload_events.clone()
            },
        }
    }

    /// The queue of a consumer.
    pub fn queue(&self, role: QueueRole) -> Option<&Queue> {
        self.queues.iter().find(|queue| queue.role == role)
    }

    /// The EventBridge pattern of a queue's rule.
    pub fn pattern(&self, queue: &Queue) -> serde_json::Value {
        let mut pattern = serde_json::json!({"source": [self.event_source]});
        if let Some(types) = &queue.detail_types {
            pattern["detail-type"] = serde_json::json!(types);
        }
        pattern
    }

    /// The EventBridge pattern of S3's "Object Created" events of originals.
    pub fn upload_pattern(&self) -> serde_json::Value {
        serde_json::json!({
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {
                "bucket": {"name": [self.buckets.originals]},
                "object": {"key": [{"prefix": self.upload_events.key_prefix}]},
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_list_parses_and_has_every_consumer() {
        let resources = Resources::standard().unwrap();
        for role in [QueueRole::Projector, QueueRole::Images, QueueRole::Notifier] {
            assert!(resources.queue(role).is_some(), "{role:?}");
        }
        let images = resources.queue(QueueRole::Images).unwrap();
        assert_eq!(
            resources.pattern(images),
            serde_json::json!({
                "source": ["photo-catalog.write-side"],
                "detail-type": [
                    "PhotoUploaded",
                    "PhotoReprocessRequested",
                    "PhotoFormatsRequested",
                    "PhotoReplacementUploaded",
                    "PhotoReplaced",
                    "PhotoDeleted"
                ]
            })
        );
    }

    #[test]
    fn prefixed_resources_rename_everything_but_keep_the_shape() {
        let standard = Resources::standard().unwrap();
        let test = standard.prefixed("t1-");
        assert_eq!(test.bus, "t1-photo-catalog");
        assert_eq!(test.table.name, "t1-catalog-photos-v2");
        assert_eq!(test.table.indexes, standard.table.indexes);
        assert!(
            test.queues
                .iter()
                .all(|queue| queue.name.starts_with("t1-"))
        );
    }
}
