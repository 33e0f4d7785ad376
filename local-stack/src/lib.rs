//! Development support, never part of what is deployed: creates the service's AWS resources
//! in the local stack (moto's server), idempotently: the buckets, the event bus, every queue
//! with its dead-letter queue and the rule that feeds it, and the read-model table with its
//! indexes. In AWS, infra-cdk declares the same resources from the same `resources.json`.
//!
//! It also publishes the seller page into its bucket with the `config.json` that points it at
//! the local APIs ([`publish_page`]), as infra-cdk does in AWS.
//!
//! `./dev` runs it as the `local-stack` binary; the tests call [`create`] for resources of
//! their own under a prefix.

use std::path::Path;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_eventbridge::types::Target;
use aws_sdk_s3::types::{
    BucketVersioningStatus, EventBridgeConfiguration, NotificationConfiguration,
    VersioningConfiguration,
};
use aws_sdk_sqs::types::QueueAttributeName;
use catalog_events::resources::{Queue, Resources, Table};
use catalog_runtime::aws::S3Settings;

/// Creates every resource that does not exist yet and brings queue settings and routes to
/// what `resources` says.
pub async fn create(config: &SdkConfig, resources: &Resources) -> anyhow::Result<()> {
    buckets(config, resources).await?;
    routes(config, resources).await?;
    upload_events(config, resources).await?;
    table(config, &resources.table).await
}

/// Creates the buckets (alone, for tests of the write side). The variants and the seller
/// page are readable by anyone, as CloudFront serves them in AWS; the originals are not, and
/// keep versions as in AWS.
pub async fn buckets(config: &SdkConfig, resources: &Resources) -> anyhow::Result<()> {
    let s3 = S3Settings { path_style: true }.client(config);
    let buckets = &resources.buckets;
    for bucket in [&buckets.originals, &buckets.variants, &buckets.seller_page] {
        // Asked to create a bucket it has, moto makes it anew, empty: create only what is missing.
        if s3.head_bucket().bucket(bucket).send().await.is_ok() {
            continue;
        }
        if let Err(error) = s3.create_bucket().bucket(bucket).send().await {
            let exists = error.as_service_error().is_some_and(|e| {
                e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()
            });
            anyhow::ensure!(exists, "creating bucket {bucket}: {error}");
        }
    }
    // Versioned, as in AWS: a delete leaves the object's versions, which a purge must remove.
    s3.put_bucket_versioning()
        .bucket(&buckets.originals)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await?;
    for public in [&buckets.variants, &buckets.seller_page] {
        s3.put_bucket_policy()
            .bucket(public)
            .policy(public_read(public).to_string())
            .send()
            .await?;
    }
    Ok(())
}

/// A bucket policy that lets anyone GET the bucket's objects.
fn public_read(bucket: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AnonymousRead",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/*"),
        }],
    })
}

async fn routes(config: &SdkConfig, resources: &Resources) -> anyhow::Result<()> {
    let events = aws_sdk_eventbridge::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    if let Err(error) = events.create_event_bus().name(&resources.bus).send().await {
        let exists = error
            .as_service_error()
            .is_some_and(|e| e.is_resource_already_exists_exception());
        anyhow::ensure!(exists, "creating bus {}: {error}", resources.bus);
    }
    for queue in &resources.queues {
        let arn = queue_with_dead_letters(&sqs, queue).await?;
        events
            .put_rule()
            .name(&queue.rule)
            .event_bus_name(&resources.bus)
            .event_pattern(resources.pattern(queue).to_string())
            .send()
            .await?;
        events
            .put_targets()
            .rule(&queue.rule)
            .event_bus_name(&resources.bus)
            .targets(Target::builder().id(&queue.name).arn(arn).build()?)
            .send()
            .await?;
    }
    Ok(())
}

/// S3 reports the originals it stores to EventBridge, and a rule on the default bus (where S3
/// delivers) routes them to the queue of `upload_events`, as in AWS. (moto delivers S3's
/// events to the rules of every bus, and the pattern keeps out what is not an original.)
async fn upload_events(config: &SdkConfig, resources: &Resources) -> anyhow::Result<()> {
    let s3 = S3Settings { path_style: true }.client(config);
    s3.put_bucket_notification_configuration()
        .bucket(&resources.buckets.originals)
        .notification_configuration(
            NotificationConfiguration::builder()
                .event_bridge_configuration(EventBridgeConfiguration::builder().build())
                .build(),
        )
        .send()
        .await?;
    let sqs = aws_sdk_sqs::Client::new(config);
    let queue = resources
        .queue(resources.upload_events.queue_role)
        .ok_or_else(|| anyhow::anyhow!("no queue for S3's upload events"))?;
    let url = catalog_runtime::queue::queue_url(&sqs, &queue.name).await?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| anyhow::anyhow!("no ARN for queue {}", queue.name))?;
    let events = aws_sdk_eventbridge::Client::new(config);
    let rule = &resources.upload_events.rule;
    events
        .put_rule()
        .name(rule)
        .event_pattern(resources.upload_pattern().to_string())
        .send()
        .await?;
    events
        .put_targets()
        .rule(rule)
        .targets(Target::builder().id(&queue.name).arn(arn).build()?)
        .send()
        .await?;
    Ok(())
}

/// Creates the queue and its dead-letter queue; returns the queue's ARN.
async fn queue_with_dead_letters(
    sqs: &aws_sdk_sqs::Client,
    queue: &Queue,
) -> anyhow::Result<String> {
    let (_, dead_letters) = create_queue(sqs, &queue.dead_letter_queue).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dead_letters,
        "maxReceiveCount": queue.max_receive_count.to_string(),
    });
    let (url, arn) = create_queue(sqs, &queue.name).await?;
    sqs.set_queue_attributes()
        .queue_url(url)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            queue.visibility_timeout_secs.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await?;
    Ok(arn)
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> anyhow::Result<(String, String)> {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await?
        .queue_url
        .ok_or_else(|| anyhow::anyhow!("no URL for queue {name}"))?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| anyhow::anyhow!("no ARN for queue {name}"))?;
    Ok((url, arn))
}

/// Creates a read-model table (alone, for a table of another layout).
pub async fn table(config: &SdkConfig, spec: &Table) -> anyhow::Result<()> {
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let mut attributes = vec![spec.partition_key.clone()];
    let mut request = dynamodb
        .create_table()
        .table_name(&spec.name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(&spec.partition_key, KeyType::Hash)?);
    for index in &spec.indexes {
        attributes.extend([index.partition_key.clone(), index.sort_key.clone()]);
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.name)
                .key_schema(key(&index.partition_key, KeyType::Hash)?)
                .key_schema(key(&index.sort_key, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()?,
        );
    }
    attributes.sort();
    attributes.dedup();
    for name in attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        );
    }
    if let Err(error) = request.send().await {
        let exists = error
            .as_service_error()
            .is_some_and(|e| e.is_resource_in_use_exception());
        anyhow::ensure!(exists, "creating table {}: {error}", spec.name);
    }
    Ok(())
}

/// Puts the seller page's files (`dir`) and its `config.json` into the page's bucket, as
/// infra-cdk deploys them in AWS; returns the page's URL.
pub async fn publish_page(
    config: &SdkConfig,
    resources: &Resources,
    dir: &Path,
    page_config: &serde_json::Value,
) -> anyhow::Result<String> {
    let s3 = S3Settings { path_style: true }.client(config);
    let bucket = &resources.buckets.seller_page;
    let mut files = vec![(
        "config.json".to_owned(),
        serde_json::to_vec_pretty(page_config)?,
    )];
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        if content_type(name).is_some() && name != "config.json" {
            files.push((name.to_owned(), std::fs::read(&path)?));
        }
    }
    for (name, bytes) in files {
        s3.put_object()
            .bucket(bucket)
            .key(&name)
            .set_content_type(content_type(&name).map(str::to_owned))
            .cache_control("no-cache")
            .body(bytes.into())
            .send()
            .await?;
    }
    let endpoint = config
        .endpoint_url()
        .ok_or_else(|| anyhow::anyhow!("the local stack has no endpoint (AWS_ENDPOINT_URL)"))?;
    Ok(format!(
        "{}/{bucket}/index.html",
        endpoint.trim_end_matches('/')
    ))
}

/// The content type a page file is served with; `None` for files that are not the page's.
fn content_type(name: &str) -> Option<&'static str> {
    Some(match name.rsplit('.').next()? {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => return None,
    })
}
