/**
 * The six long-running `catalog` processes on one Fargate cluster, each with its own task role
 * granted only the calls it makes:
 *
 * | process        | AWS it may use                                                        |
 * | -------------- | --------------------------------------------------------------------- |
 * | write-api      | originals: Put/Get/Delete object and its tags, abort multipart, ListBucket; the webhook secrets' key; Postgres |
 * | read-api       | table and its indexes: GetItem, Query; DescribeTable                  |
 * | relay          | events:PutEvents on the bus; Postgres                                 |
 * | project        | projector queue (consume); PutItem on the table                       |
 * | process-images | images queue and its dead-letter queue (consume); originals/*: Get (and HEAD), Delete (every version too), remove tags, List (versions too); variants/*: Put, Delete, List; invalidate the variants CDN; Postgres |
 * | notify         | notifier queue (consume); the webhook secrets' key; Postgres; the internet (webhooks, via NAT) |
 *
 * The image processor settles its own dead letters (fails a stuck photo, retries a deleted
 * photo's cleanup), records uploads only S3 reported (HEAD, then the unconfirmed-upload tag
 * goes), and purges a deleted photo: its original with every version the versioned bucket kept
 * of it (ListObjectVersions under its key, then DeleteObjectVersion or DeleteObjects by version
 * id), its variants (listed under `variants/<photo>/`) and the CDN's copies of them
 * (`CATALOG_CDN_DISTRIBUTION_ID`).
 *
 * The APIs verify bearer tokens (from `Authorization`, or from `X-Catalog-Authorization` where
 * CloudFront moved it, api-cdn.ts) with the Cognito user pool's published keys and answer CORS
 * for the seller page (`acceptTokens`); no token key is held anywhere in AWS.
 *
 * The APIs are health-checked by the load balancer (`/readyz`); the four workers by ECS with
 * `catalog alive` (their loops' heartbeats). Every task carries the telemetry collector
 * (observability.ts), whose grants (X-Ray, its own metrics log group) each role has besides
 * the table below.
 *
 * The APIs scale on CPU; the queue consumers on their backlog (visible plus in-flight messages,
 * so a worker is never scaled in while it still holds messages), the image processor from zero
 * and on its dead-letter queue's visible messages too (it drains that queue, so a dead letter
 * alone must start a task); the notifier on visible messages only (its in-flight ones mostly
 * wait for a retry).
 */
import * as applicationautoscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Duration } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { CatalogProcess, ProcessContext, ProcessProps } from './process';
import { QueuePair } from './messaging';
import { QueueRole } from './resources';
import { VIEWER_IP_HEADER } from './api-cdn';

export const WRITE_API_PORT = 8080;
export const READ_API_PORT = 8081;

/** Every service keeps all its tasks serving during a deployment, and may double while it runs. */
export const MIN_HEALTHY_PERCENT = 100;
export const MAX_HEALTHY_PERCENT = 200;
/** The fewest tasks of each API: one in each AZ. */
export const API_MIN_TASKS = 2;
/** The most tasks of each API. */
export const API_MAX_TASKS = 8;
/**
 * Requests a second one seller may make of the write API across all its tasks. The load balancer
 * spreads a seller's requests over the tasks and each task limits them on its own, so each task
 * is given its share. 40 a second keeps a seller's bulk import within what one DynamoDB partition
 * takes on the seller's index keys (1,000 write units a second; docs/CAPACITY.md, "Hot keys").
 */
export const SELLER_REQUESTS_PER_SEC = 40;

/** The calls a queue consumer makes on its queue. */
export const QUEUE_CONSUMER_ACTIONS = [
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:GetQueueUrl',
  'sqs:GetQueueAttributes',
] as const;

/** Where the image processor writes a photo's variants: `variants/<photo>/...`. */
export const VARIANTS_KEY_PREFIX = 'variants/';

/**
 * The image processor's calls on an original: read it (GetObject covers HEAD), remove the
 * unconfirmed-upload tag of an upload only S3 reported, remove it, and, purging a deleted photo,
 * remove every version of it (DeleteObjectVersion, also what DeleteObjects with version ids
 * needs). It never reads or writes tags, nor reads an old version.
 */
export const IMAGE_ORIGINAL_ACTIONS = [
  's3:GetObject',
  's3:DeleteObjectTagging',
  's3:DeleteObject',
  's3:DeleteObjectVersion',
] as const;

/**
 * The image processor's listings of the originals bucket, under the originals' key prefix: keys
 * (a HEAD of a missing original is then 404) and versions (ListObjectVersions, to purge each).
 */
export const IMAGE_ORIGINAL_LIST_ACTIONS = ['s3:ListBucket', 's3:ListBucketVersions'] as const;

export interface ServicesProps extends ProcessContext {
  readonly originals: s3.IBucket;
  /** The keys of originals start with this (resources.json `upload_events.key_prefix`). */
  readonly originalsKeyPrefix: string;
  readonly variants: s3.IBucket;
  /** The CDN in front of the variants, which the image processor invalidates for a deleted photo. */
  readonly variantsDistribution: cloudfront.IDistribution;
  /** Where buyers fetch variants: `https://<CloudFront domain>`. */
  readonly variantsBaseUrl: string;
  readonly table: dynamodb.ITableV2;
  readonly indexNames: readonly string[];
  readonly bus: events.IEventBus;
  readonly queues: Readonly<Record<QueueRole, QueuePair>>;
  /** The key of the sellers' webhook signing secrets, read by write-api and notify themselves. */
  readonly webhookKeySecret: secretsmanager.ISecret;
}

/** Whose bearer tokens the APIs accept, and which browser origins may call them. */
export interface TokenSettings {
  /** `CATALOG_JWKS_URL`: the issuer's signing keys. */
  readonly jwksUrl: string;
  /** `CATALOG_JWT_ISSUER`: the `iss` every token must carry. */
  readonly issuer: string;
  /** `CATALOG_JWT_AUDIENCE`: the app client id the tokens were issued to. */
  readonly audience: string;
  /** `CATALOG_CORS_ORIGINS`: origins whose browsers may call the APIs. */
  readonly corsOrigins: readonly string[];
}

/** How many tasks of a service run. */
interface Capacity {
  readonly min: number;
  readonly max: number;
}

/** What a queue consumer's backlog counts besides its queue's visible messages. */
interface Backlog {
  /** The queue's in-flight messages too (default), so a worker is never scaled in while it holds one. */
  readonly countInFlight?: boolean;
  /** A dead-letter queue the consumer also drains: its visible messages count too. */
  readonly deadLetterQueue?: sqs.IQueue;
}

export class Services extends Construct {
  readonly cluster: ecs.Cluster;
  readonly writeApi: ecs.FargateService;
  readonly readApi: ecs.FargateService;
  readonly relay: ecs.FargateService;
  readonly projector: ecs.FargateService;
  readonly imageProcessor: ecs.FargateService;
  readonly notifier: ecs.FargateService;
  /** Task roles by subcommand, for tests and audits. */
  readonly processes: Readonly<Record<string, CatalogProcess>>;
  /** write-api and read-api, which take bearer tokens. */
  private readonly apis: readonly CatalogProcess[];
  private tokensAccepted = false;

  constructor(scope: Construct, id: string, props: ServicesProps) {
    super(scope, id);

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    const tableArns = [props.table.tableArn];
    const indexArns = props.indexNames.map((name) => `${props.table.tableArn}/index/${name}`);
    const webhookKey = { CATALOG_WEBHOOK_KEY_SECRET: props.webhookKeySecret.secretArn };
    const processes: Record<string, CatalogProcess> = {};
    const process = (name: string, processProps: Omit<ProcessProps, 'command'>): CatalogProcess => {
      const created = new CatalogProcess(this, name, props, { command: name, ...processProps });
      processes[name] = created;
      return created;
    };

    const writeApi = process('write-api', {
      cpu: 512,
      memoryLimitMiB: 1024,
      usesEventStore: true,
      port: WRITE_API_PORT,
      environment: {
        CATALOG_WRITE_ADDR: `0.0.0.0:${WRITE_API_PORT}`,
        CATALOG_SELLER_RATE_PER_SEC: String(Math.max(1, Math.floor(SELLER_REQUESTS_PER_SEC / API_MAX_TASKS))),
        CATALOG_WEBHOOK_ALLOW_HTTP: 'false',
        ...webhookKey,
      },
    });
    writeApi.allow(['secretsmanager:GetSecretValue'], [props.webhookKeySecret.secretArn]);
    writeApi.allow(
      // Tagging: presigned uploads carry the unconfirmed-upload tag, which upload-complete removes.
      ['s3:PutObject', 's3:PutObjectTagging', 's3:DeleteObjectTagging', 's3:GetObject', 's3:DeleteObject',
        's3:AbortMultipartUpload'],
      [props.originals.arnForObjects('*')],
    );
    writeApi.allow(['s3:ListBucket'], [props.originals.bucketArn]);
    this.suppressObjectWildcard(writeApi, props.originals);

    const readApi = process('read-api', {
      cpu: 512,
      memoryLimitMiB: 1024,
      usesEventStore: false,
      port: READ_API_PORT,
      environment: {
        CATALOG_READ_ADDR: `0.0.0.0:${READ_API_PORT}`,
        CATALOG_VARIANTS_BASE_URL: props.variantsBaseUrl,
        // Behind CloudFront and the load balancer the peer is never the client: the API
        // distribution's viewer-request function writes the viewer's address here.
        CATALOG_CLIENT_IP_HEADER: VIEWER_IP_HEADER,
      },
    });
    readApi.allow(['dynamodb:GetItem', 'dynamodb:Query'], [...tableArns, ...indexArns]);
    readApi.allow(['dynamodb:DescribeTable'], tableArns);

    const relay = process('relay', { cpu: 256, memoryLimitMiB: 512, usesEventStore: true, livenessCheck: true });
    relay.allow(['events:PutEvents'], [props.bus.eventBusArn]);

    const projector = process('project', { cpu: 256, memoryLimitMiB: 512, usesEventStore: false, livenessCheck: true });
    projector.allow(QUEUE_CONSUMER_ACTIONS, [props.queues.projector.queue.queueArn]);
    projector.allow(['dynamodb:PutItem'], tableArns);

    const imageProcessor = process('process-images', {
      cpu: 2048,
      memoryLimitMiB: 4096,
      usesEventStore: true,
      livenessCheck: true,
      environment: {
        // Half the task's memory for decoded images; the rest for encoders, buffers, the runtime.
        CATALOG_IMAGE_MEMORY_MIB: '2048',
        CATALOG_CDN_DISTRIBUTION_ID: props.variantsDistribution.distributionId,
      },
    });
    this.allowImageProcessing(imageProcessor, props);

    const notifier = process('notify', {
      cpu: 256,
      memoryLimitMiB: 512,
      usesEventStore: true,
      livenessCheck: true,
      environment: { CATALOG_VARIANTS_BASE_URL: props.variantsBaseUrl, ...webhookKey },
    });
    notifier.allow(QUEUE_CONSUMER_ACTIONS, [props.queues.notifier.queue.queueArn]);
    notifier.allow(['secretsmanager:GetSecretValue'], [props.webhookKeySecret.secretArn]);

    this.processes = processes;
    this.apis = [writeApi, readApi];

    // Two at least: one in each AZ, so either API survives the loss of an AZ without a cold start.
    this.writeApi = this.service(writeApi, API_MIN_TASKS);
    this.readApi = this.service(readApi, API_MIN_TASKS);
    this.scaleOnCpu(this.writeApi, { min: API_MIN_TASKS, max: API_MAX_TASKS });
    this.scaleOnCpu(this.readApi, { min: API_MIN_TASKS, max: API_MAX_TASKS });

    // One relay: the outbox holds every event durably, so while ECS replaces a failed relay
    // (about a minute, in the other AZ when its own is down) events wait rather than get lost;
    // two would be safe (rows are claimed with SKIP LOCKED) but would double the polling for no
    // gain in delivery. The queue consumers below start at one task for the same reason: their
    // messages wait in SQS (in-flight ones come back after their visibility timeout).
    this.relay = this.service(relay, 1);
    this.projector = this.service(projector, 1);
    this.scaleOnBacklog(this.projector, props.queues.projector.queue, { min: 1, max: 4 });
    this.notifier = this.service(notifier, 1);
    // The notifier's in-flight messages are mostly webhooks waiting (hidden) for their next
    // retry, which need no task: it scales on what is ready to send.
    this.scaleOnBacklog(this.notifier, props.queues.notifier.queue, { min: 1, max: 4 }, { countInFlight: false });
    this.imageProcessor = this.service(imageProcessor, 0);
    // The processor settles its own dead letters, so one waiting there must start a task even
    // when the queue is empty. Only visible ones count: a dead letter hidden for its retry's
    // backoff needs no task until it shows again.
    this.scaleOnBacklog(this.imageProcessor, props.queues.images.queue, { min: 0, max: 10 },
      { deadLetterQueue: props.queues.images.deadLetterQueue });

    // Without these settings the APIs would refuse every token (and not start): fail the synth.
    this.node.addValidation({
      validate: () => (this.tokensAccepted ? [] : ['the APIs accept no tokens: call Services.acceptTokens']),
    });
  }

  /**
   * Gives both APIs the issuer whose tokens they accept and the browser origins they answer
   * CORS for. Set after construction: the audience and the page's origin come from resources
   * (the page's CloudFront distribution and app client) that are built after the load balancer.
   */
  acceptTokens(settings: TokenSettings): void {
    for (const api of this.apis) {
      api.container.addEnvironment('CATALOG_JWKS_URL', settings.jwksUrl);
      api.container.addEnvironment('CATALOG_JWT_ISSUER', settings.issuer);
      api.container.addEnvironment('CATALOG_JWT_AUDIENCE', settings.audience);
      api.container.addEnvironment('CATALOG_CORS_ORIGINS', settings.corsOrigins.join(','));
    }
    this.tokensAccepted = true;
  }

  /**
   * Where clients reach both APIs (the API's CloudFront address): the `servers` of the OpenAPI
   * documents they serve, from which frontend teams generate clients.
   */
  servedAt(publicUrl: string): void {
    for (const api of this.apis) {
      api.container.addEnvironment('CATALOG_PUBLIC_URL', publicUrl);
    }
  }

  /**
   * The image processor's grants: its queue and dead-letter queue; originals under their key
   * prefix (render, record an upload only S3 reported, purge); variants under theirs (write,
   * list and remove a photo's); and invalidations of the variants' distribution alone.
   */
  private allowImageProcessing(processor: CatalogProcess, props: ServicesProps): void {
    const images = props.queues.images;
    processor.allow(QUEUE_CONSUMER_ACTIONS, [images.queue.queueArn]);
    // Dead-lettered jobs are settled by the processor itself: a stuck photo fails with a reason.
    processor.allow(QUEUE_CONSUMER_ACTIONS, [images.deadLetterQueue.queueArn]);
    processor.allow(IMAGE_ORIGINAL_ACTIONS, [props.originals.arnForObjects(`${props.originalsKeyPrefix}*`)]);
    // S3 answers a HEAD of a missing object 404 only to a caller that may list where it would be
    // (else 403): an upload S3 reported may be gone by the time it is recorded. A purge lists the
    // versions of a deleted photo's original (ListObjectVersions with its key as the prefix).
    this.allowListing(processor, props.originals, props.originalsKeyPrefix, IMAGE_ORIGINAL_LIST_ACTIONS);
    processor.allow(['s3:PutObject', 's3:DeleteObject'], [props.variants.arnForObjects(`${VARIANTS_KEY_PREFIX}*`)]);
    // A purge lists a photo's variants (every attempt's) under variants/<photo>/ to remove them.
    this.allowListing(processor, props.variants, VARIANTS_KEY_PREFIX);
    processor.allow(['cloudfront:CreateInvalidation'], [props.variantsDistribution.distributionArn]);
    this.suppressObjectWildcard(processor, props.originals, props.variants);
  }

  /** Grants `s3:ListBucket` (or `actions`) on the bucket for keys under `prefix` only. */
  private allowListing(process: CatalogProcess, bucket: s3.IBucket, prefix: string,
    actions: readonly string[] = ['s3:ListBucket']): void {
    process.allow(actions, [bucket.bucketArn], { StringLike: { 's3:prefix': [`${prefix}*`] } });
  }

  /**
   * A service over both AZs: its tasks may run in the app subnet of either, and Fargate spreads
   * them across the two (it takes no placement strategy; it balances by AZ itself), so the APIs'
   * two tasks or more are in both. When an AZ fails, ECS starts the replacements in the other;
   * once it is back, AZ rebalancing moves tasks until the two are even again. A deployment
   * starts the new tasks before it stops any old one (100 % healthy at least, up to 200 %), and
   * the circuit breaker rolls back one whose tasks do not become healthy.
   */
  private service(process: CatalogProcess, desiredCount: number): ecs.FargateService {
    return new ecs.FargateService(process, 'Service', {
      cluster: this.cluster,
      taskDefinition: process.taskDefinition,
      desiredCount,
      securityGroups: [process.securityGroup],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      minHealthyPercent: MIN_HEALTHY_PERCENT,
      maxHealthyPercent: MAX_HEALTHY_PERCENT,
      circuitBreaker: { rollback: true },
      availabilityZoneRebalancing: ecs.AvailabilityZoneRebalancing.ENABLED,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
    });
  }

  private scaleOnCpu(service: ecs.FargateService, capacity: Capacity): void {
    service.autoScaleTaskCount({ minCapacity: capacity.min, maxCapacity: capacity.max })
      .scaleOnCpuUtilization('Cpu', {
        targetUtilizationPercent: 60,
        scaleOutCooldown: Duration.minutes(1),
        scaleInCooldown: Duration.minutes(5),
      });
  }

  private scaleOnBacklog(service: ecs.FargateService, queue: sqs.IQueue, capacity: Capacity, backlog: Backlog = {}): void {
    service.autoScaleTaskCount({ minCapacity: capacity.min, maxCapacity: capacity.max })
      .scaleOnMetric('Backlog', {
        metric: this.backlogMetric(queue, backlog),
        adjustmentType: applicationautoscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        scalingSteps: [
          { upper: 0, change: -1 },
          { lower: 1, change: +1 },
          { lower: 100, change: +2 },
          { lower: 1000, change: +4 },
        ],
        cooldown: Duration.minutes(1),
      });
  }

  /**
   * The messages a consumer has to work through: its queue's visible ones, plus (as `backlog`
   * says) its in-flight ones and its dead-letter queue's visible ones. Metric math counts a
   * missing value as 0, so a queue idle long enough to publish no metrics does not blank the sum.
   */
  private backlogMetric(queue: sqs.IQueue, { countInFlight = true, deadLetterQueue }: Backlog): cloudwatch.IMetric {
    const period = Duration.minutes(1);
    const gauge = { period, statistic: 'Maximum' };
    const visible = queue.metricApproximateNumberOfMessagesVisible(gauge);
    const terms: Record<string, { metric: cloudwatch.IMetric; label: string }> = {
      visible: { metric: visible, label: 'visible' },
    };
    if (countInFlight) {
      terms['inflight'] = { metric: queue.metricApproximateNumberOfMessagesNotVisible(gauge), label: 'in flight' };
    }
    if (deadLetterQueue !== undefined) {
      terms['deadLetters'] = { metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible(gauge), label: 'dead-lettered' };
    }
    const ids = Object.keys(terms);
    if (ids.length === 1) {
      return visible;
    }
    const labels = ids.map((id) => terms[id]!.label);
    return new cloudwatch.MathExpression({
      label: `Messages ${labels.slice(0, -1).join(', ')} or ${labels.at(-1)}`,
      expression: ids.join(' + '),
      usingMetrics: Object.fromEntries(ids.map((id) => [id, terms[id]!.metric])),
      period,
    });
  }

  private suppressObjectWildcard(process: CatalogProcess, ...buckets: s3.IBucket[]): void {
    NagSuppressions.addResourceSuppressions(process.role, [{
      id: 'AwsSolutions-IAM5',
      reason: 'Object keys are ids minted at upload time, so object actions are granted on every key of this '
        + 'one bucket (bucket/*), or of one key prefix of it (bucket/originals/*), never on other buckets.',
      // The finding names the bucket's ARN (its export, across stacks) by the bucket's construct id,
      // then the key pattern: `*`, or a prefix of one folder and `*`.
      appliesTo: buckets.map((bucket) => ({ regex: `/^Resource::.*${bucket.node.id}[^/]*\\/([a-z0-9-]+\\/)?\\*$/` })),
    }], true);
  }
}

