/**
 * What pages someone, all to one SNS topic (encrypted with a key CloudWatch and EventBridge may
 * use). Each alarm's description says what to look at first and names its runbook section of
 * infra-cdk/README.md ("Operations"), which `RUNBOOK` lists and a test holds to the README.
 *
 * From AWS' own metrics: a dead letter anywhere, a queue whose oldest message is too old (the
 * projector's is the projection lag), 5xx answers from either API or from the load balancer,
 * each API's p99 latency (the load balancer's TargetResponseTime: CloudWatch gets no percentile
 * of the catalog's own histograms, see observability.ts), Aurora at its capacity or near its
 * connection limit, and DynamoDB throttling the read model.
 *
 * From the catalog's own metrics (the collector's, in the deployment's namespace): the outbox's
 * oldest unpublished event (the relay is stalled), the image processor's failure rate, webhooks
 * given up, and any upload the write API refused because its upload memory budget was spent.
 *
 * From logs: an event the relay set aside (quarantined: no consumer will ever see it, and nothing
 * but the relay's log says so), and the nightly resync's summary when it repaired more than a
 * handful of photos (a projection path is losing writes). A resync that exits non-zero (or never
 * starts) is seen by an EventBridge rule on its task's state change, which notifies the topic.
 */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Aws, Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { DATABASE_CAPACITY } from './database';
import { QueuePair } from './messaging';
import { QueueRole } from './resources';

/** How old a queue's oldest message may get before the alarm, by consumer. */
export const QUEUE_AGE_LIMITS: Readonly<Record<QueueRole, Duration>> = {
  // Projection lag: catalog pages older than this are stale.
  projector: Duration.minutes(2),
  // An image takes seconds; a quarter hour means the processors are stuck or at their maximum.
  images: Duration.minutes(15),
  // A webhook to a seller's server that is down stays on the queue, hidden between retries,
  // until the notifier gives up (CATALOG_WEBHOOK_GIVE_UP_AFTER_SECS, 6 hours): only a message
  // older than that means the notifier itself is not settling them.
  notifier: Duration.hours(7),
};

/** 5xx answers per 5 minutes that count as an outage rather than noise. */
export const SERVER_ERRORS_PER_5_MINUTES = 5;

/** The namespace of the metrics the catalog derives from its own logs. */
export const METRICS_NAMESPACE = 'PhotoCatalog';

/**
 * The relay's log line of an event it set aside, as `CATALOG_LOG_FORMAT=json` writes it
 * (tracing-subscriber's JSON format: an event's fields nested under `fields`, a bool as a JSON
 * boolean): `{"timestamp":...,"level":"ERROR","fields":{"message":"an event was set aside: it can
 * never be published","quarantined":true,"photo":"<id>","sequence":<n>,"reason":"..."},"target":...}`.
 */
export const QUARANTINED_PATTERN = logs.FilterPattern.booleanValue('$.fields.quarantined', true);

/**
 * The resync's summary line, as `CATALOG_LOG_FORMAT=json` writes it:
 * `{"level":"INFO","fields":{"message":"resync finished","checked":<n>,"repaired":<n>,"skipped":<n>},...}`.
 */
export const RESYNC_FINISHED_PATTERN = logs.FilterPattern.stringValue('$.fields.message', '=', 'resync finished');

/** The runbook sections (headings under "Operations" in infra-cdk/README.md) the alarms name. */
export const RUNBOOK = {
  deadLetters: 'Dead letters',
  queueAge: 'Queue age and projection lag',
  quarantined: 'Quarantined events',
  serverErrors: '5xx answers',
  outboxAge: 'Outbox age',
  latency: 'API latency',
  imageJobs: 'Image job failures',
  giveUps: 'Webhook give-ups',
  uploadMemory: 'Upload memory spent',
  databaseCapacity: 'Aurora capacity',
  databaseConnections: 'Aurora connections',
  throttles: 'DynamoDB throttling',
  resyncFailed: 'Resync failed',
  resyncRepairs: 'Resync repairs',
} as const;

/** The sentence that ends every alarm description. */
export function runbook(section: string): string {
  return `Runbook: infra-cdk/README.md, Operations, "${section}".`;
}

/** The oldest event not yet on the bus, beyond which the relay is stalled (it publishes within seconds). */
export const OUTBOX_AGE_LIMIT = Duration.minutes(2);

/**
 * p99 latency per API beyond which it is slow (README, "API latency", says why these figures):
 * the read API answers from DynamoDB items (single-digit milliseconds each), the write API from
 * a Postgres transaction and, for uploads, a presigned URL or a HEAD of S3.
 */
export const API_P99_LIMITS = {
  WriteApi: Duration.seconds(1),
  ReadApi: Duration.millis(500),
} as const;

/** The share of finished image jobs that failed, over 15 minutes, beyond which something is broken. */
export const IMAGE_JOB_FAILURE_PERCENT = 10;
/** Finished jobs in those 15 minutes below which no rate is judged (two corrupt files of three is no outage). */
export const IMAGE_JOB_MINIMUM = 10;

/**
 * Webhooks given up in an hour that page. One is usually one seller's server (down for the six
 * hours of retries, or refusing); several at once are several sellers, or our own egress.
 */
export const WEBHOOK_GIVE_UPS_PER_HOUR = 5;

/**
 * The window in which a single upload refused for the write API's memory budget pages (`reason=memory`,
 * a 503): the budget is per process, so a refusal means uploads in progress filled a task.
 */
export const UPLOAD_MEMORY_WINDOW = Duration.minutes(10);

/** ACU utilization (share of the maximum capacity) that counts as "at the maximum". */
export const ACU_UTILIZATION_PERCENT = 95;

/**
 * Connections that count as near the limit. Aurora sets max_connections from the maximum
 * capacity's memory: 189 at 1 ACU, 3,360 at 16, about 840 at our 4 (`SHOW max_connections`
 * gives the exact figure). Each Postgres process pools up to 32 (CATALOG_DATABASE_MAX_CONNECTIONS),
 * and at full scale (8 write APIs, 10 image processors, 4 notifiers, a relay, a resync) that is 768.
 */
export const DATABASE_CONNECTIONS_LIMIT = 600;

/** Photos one nightly resync may repair before it pages: more means a projection path loses writes. */
export const RESYNC_REPAIRS_LIMIT = 5;

/** The nightly resync's task, for the rule that sees it fail and the filter on its summary. */
export interface ResyncWatch {
  readonly cluster: ecs.ICluster;
  readonly taskDefinition: ecs.TaskDefinition;
  readonly logs: logs.ILogGroup;
}

export interface AlarmsProps {
  readonly queues: Readonly<Record<QueueRole, QueuePair>>;
  /** The relay's log group, where it reports the events it sets aside. */
  readonly relayLogs: logs.ILogGroup;
  /** Starts the names of the catalog's own metrics, so two deployments in one account keep theirs apart. */
  readonly namePrefix: string;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroups: Readonly<Record<string, elbv2.ApplicationTargetGroup>>;
  /** The target groups whose p99 latency pages (not the uploads': their time is the client's upload). */
  readonly latencyTargets: Readonly<Record<keyof typeof API_P99_LIMITS, elbv2.ApplicationTargetGroup>>;
  /** The CloudWatch namespace of the catalog's own metrics (observability.ts). */
  readonly catalogNamespace: string;
  readonly database: rds.DatabaseCluster;
  readonly table: dynamodb.ITableV2;
  readonly resync: ResyncWatch;
  /** An address to subscribe to the alarm topic, if any. */
  readonly email?: string;
}

export class Alarms extends Construct {
  readonly topic: sns.Topic;
  /** The rule that tells the topic when the resync fails. */
  readonly resyncFailed: events.Rule;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);

    const key = new kms.Key(this, 'TopicKey', {
      description: 'Encrypts the catalog alarm topic',
      enableKeyRotation: true,
    });
    for (const service of ['cloudwatch.amazonaws.com', 'events.amazonaws.com']) {
      key.grant(new iam.ServicePrincipal(service), 'kms:Decrypt', 'kms:GenerateDataKey*');
    }
    this.topic = new sns.Topic(this, 'Topic', { masterKey: key, enforceSSL: true });
    if (props.email !== undefined) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    }
    const notify = new actions.SnsAction(this.topic);
    const alarm: AlarmFactory = (alarmId, options) => {
      const created = new cloudwatch.Alarm(this, alarmId, options);
      created.addAlarmAction(notify);
      created.addOkAction(notify);
    };

    for (const [role, { queue, deadLetterQueue }] of Object.entries(props.queues)) {
      const limit = QUEUE_AGE_LIMITS[role as QueueRole];
      alarm(`${role}DeadLetters`, {
        metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        alarmDescription: `Messages in the ${role} dead-letter queue: inspect them, fix the cause, then run `
          + `\`catalog redrive ${role}\`. ${runbook(RUNBOOK.deadLetters)}`,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        threshold: 0,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm(role === 'projector' ? 'ProjectionLag' : `${role}QueueAge`, {
        metric: queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
        alarmDescription: `${role === 'projector'
          ? 'Projection lag: the read model is behind the event store.'
          : `The ${role} queue's oldest message is older than ${limit.toMinutes()} minutes.`} ${runbook(RUNBOOK.queueAge)}`,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        threshold: limit.toSeconds(),
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }

    const fiveMinutes = Duration.minutes(5);
    const quarantined = new logs.MetricFilter(this, 'QuarantinedEventsFilter', {
      logGroup: props.relayLogs,
      filterPattern: QUARANTINED_PATTERN,
      metricNamespace: METRICS_NAMESPACE,
      metricName: `${props.namePrefix}QuarantinedEvents`,
      metricValue: '1',
    });
    alarm('QuarantinedEvents', {
      metric: quarantined.metric({ period: fiveMinutes, statistic: 'Sum' }),
      alarmDescription: 'The relay set aside an event it cannot publish (unreadable, or too large for EventBridge); '
        + 'no consumer will see it. Its log line ("an event was set aside") names the photo, the sequence and the reason. '
        + runbook(RUNBOOK.quarantined),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      threshold: 1,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    for (const [name, targetGroup] of Object.entries(props.targetGroups)) {
      alarm(`${name}ServerErrors`, {
        metric: targetGroup.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: fiveMinutes, statistic: 'Sum' }),
        alarmDescription: `The ${name} target group answered 5xx: see the dashboard and the service's log group. `
          + runbook(RUNBOOK.serverErrors),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        threshold: SERVER_ERRORS_PER_5_MINUTES,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    alarm('LoadBalancerServerErrors', {
      metric: props.loadBalancer.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period: fiveMinutes, statistic: 'Sum' }),
      alarmDescription: 'The load balancer answered 5xx itself (no healthy target, timeouts). '
        + runbook(RUNBOOK.serverErrors),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      threshold: SERVER_ERRORS_PER_5_MINUTES,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.pipelineAlarms(alarm, props);
    this.latencyAlarms(alarm, props);
    this.storageAlarms(alarm, props);
    this.resyncFailed = this.resyncAlarms(alarm, props);
  }

  /**
   * The outbox (relay stalled), image jobs failing, webhooks given up, uploads refused for memory:
   * the catalog's own metrics.
   */
  private pipelineAlarms(alarm: AlarmFactory, props: AlarmsProps): void {
    const catalog = (metricName: string, dimensionsMap: Record<string, string>, statistic: string, period: Duration) =>
      new cloudwatch.Metric({ namespace: props.catalogNamespace, metricName, dimensionsMap, statistic, period });

    alarm('OutboxAge', {
      // Measured every 5 s by each write API from Postgres: it keeps growing while the relay is down.
      metric: catalog('catalog_outbox_oldest_unpublished_seconds', { service: 'write-api' }, 'Maximum', Duration.minutes(1)),
      alarmDescription: `An event has waited more than ${OUTBOX_AGE_LIMIT.toMinutes()} minutes in the outbox: the relay `
        + 'is not publishing (look at the relay service\'s tasks and log group, and EventBridge PutEvents errors). '
        + runbook(RUNBOOK.outboxAge),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      threshold: OUTBOX_AGE_LIMIT.toSeconds(),
      evaluationPeriods: 1,
      // No data means no write API is exporting metrics: the 5xx alarms speak for that.
      treatMissingData: cloudwatch.TreatMissingData.MISSING,
    });

    const fifteenMinutes = Duration.minutes(15);
    const jobs = (outcome: string) =>
      catalog('catalog_image_jobs_total', { service: 'process-images', outcome }, 'Sum', fifteenMinutes);
    alarm('ImageJobFailures', {
      metric: new cloudwatch.MathExpression({
        label: 'Failed image jobs (% of finished)',
        expression: `IF(FILL(ready, 0) + FILL(failed, 0) >= ${IMAGE_JOB_MINIMUM}, `
          + '100 * FILL(failed, 0) / (FILL(ready, 0) + FILL(failed, 0)), 0)',
        usingMetrics: { ready: jobs('ready'), failed: jobs('failed') },
        period: fifteenMinutes,
      }),
      alarmDescription: `More than ${IMAGE_JOB_FAILURE_PERCENT} % of the image jobs that finished in 15 minutes failed: `
        + 'see the jobs by outcome on the dashboard, catalog_image_jobs_total by reason among the catalog\'s metrics, '
        + 'and the image processor\'s log group. '
        + runbook(RUNBOOK.imageJobs),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      threshold: IMAGE_JOB_FAILURE_PERCENT,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    alarm('WebhookGiveUps', {
      metric: catalog('catalog_webhook_give_ups_total', { service: 'notify' }, 'Sum', Duration.hours(1)),
      alarmDescription: `The notifier gave up ${WEBHOOK_GIVE_UPS_PER_HOUR} or more webhooks in an hour (each after up to `
        + '6 hours of failed attempts, or a lasting refusal): sellers missed notifications. The notifier\'s log group '
        + 'says whose and why. ' + runbook(RUNBOOK.giveUps),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      threshold: WEBHOOK_GIVE_UPS_PER_HOUR,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    alarm('UploadMemorySpent', {
      // Refusals of every write API task (the dimensions name no task); a seller's cap (`reason=seller`, 429) does not page.
      metric: catalog('catalog_uploads_refused_total', { service: 'write-api', reason: 'memory' }, 'Sum', UPLOAD_MEMORY_WINDOW),
      alarmDescription: 'The write API refused uploads: its upload memory budget was spent (CATALOG_UPLOAD_MEMORY_MIB). '
        + 'Add write API tasks; see docs/OPERATIONS.md#uploadmemoryspent. ' + runbook(RUNBOOK.uploadMemory),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      threshold: 0,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /** Each API's p99 latency, as the load balancer measures it (per target group). */
  private latencyAlarms(alarm: AlarmFactory, props: AlarmsProps): void {
    for (const [name, targetGroup] of Object.entries(props.latencyTargets)) {
      const limit = API_P99_LIMITS[name as keyof typeof API_P99_LIMITS];
      alarm(`${name}Latency`, {
        metric: targetGroup.metrics.targetResponseTime({ period: Duration.minutes(5), statistic: 'p99' }),
        alarmDescription: `The ${name}'s p99 latency has been above ${limit.toMilliseconds()} ms for 15 minutes: see `
          + 'its CPU and task count, Aurora and DynamoDB on the dashboard, and its slowest traces in X-Ray. '
          + runbook(RUNBOOK.latency),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        threshold: limit.toMilliseconds() / 1000,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
  }

  /** Aurora at its capacity or near its connection limit; DynamoDB throttling the read model. */
  private storageAlarms(alarm: AlarmFactory, props: AlarmsProps): void {
    const fiveMinutes = Duration.minutes(5);
    alarm('DatabaseCapacity', {
      metric: props.database.metricACUUtilization({ period: fiveMinutes, statistic: 'Average' }),
      alarmDescription: `Aurora has run at its maximum capacity (${DATABASE_CAPACITY.max} ACU) for 15 minutes: `
        + 'queries queue and every Postgres process slows. See CPU, connections and ACU on the dashboard. '
        + runbook(RUNBOOK.databaseCapacity),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      threshold: ACU_UTILIZATION_PERCENT,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm('DatabaseConnections', {
      metric: props.database.metricDatabaseConnections({ period: fiveMinutes, statistic: 'Maximum' }),
      alarmDescription: `Aurora holds ${DATABASE_CONNECTIONS_LIMIT} connections or more, near its limit: new ones will be `
        + 'refused. See the task counts of the Postgres processes on the dashboard. '
        + runbook(RUNBOOK.databaseConnections),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      threshold: DATABASE_CONNECTIONS_LIMIT,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm('ReadModelThrottles', {
      metric: new cloudwatch.MathExpression({
        label: 'Throttled read-model reads and writes',
        expression: 'FILL(reads, 0) + FILL(writes, 0)',
        usingMetrics: {
          reads: props.table.metric('ReadThrottleEvents', { period: fiveMinutes, statistic: 'Sum' }),
          writes: props.table.metric('WriteThrottleEvents', { period: fiveMinutes, statistic: 'Sum' }),
        },
        period: fiveMinutes,
      }),
      alarmDescription: 'DynamoDB has throttled the read model for 10 minutes (an on-demand table throttles a hot '
        + 'partition, or traffic past twice its previous peak). See consumed capacity and throttles on the dashboard. '
        + runbook(RUNBOOK.throttles),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      threshold: 1,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /**
   * The nightly resync: an EventBridge rule sees its task stop with a non-zero exit code (or fail
   * to start) and tells the topic; a metric filter reads how many photos its summary repaired.
   */
  private resyncAlarms(alarm: AlarmFactory, props: AlarmsProps): events.Rule {
    const { cluster, taskDefinition, logs: resyncLogs } = props.resync;
    const taskDefinitions = `arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}:task-definition/${taskDefinition.family}:`;
    const field = (path: string) => events.EventField.fromPath(path);
    const failed = new events.Rule(this, 'ResyncFailed', {
      description: 'catalog resync (or a one-off command of its task definition) stopped with a non-zero exit code, '
        + `or never started: its log group says why. ${runbook(RUNBOOK.resyncFailed)}`,
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: {
          clusterArn: [cluster.clusterArn],
          lastStatus: ['STOPPED'],
          taskDefinitionArn: [{ prefix: taskDefinitions }],
          $or: [
            { containers: { exitCode: [{ 'anything-but': 0 }] } },
            { stopCode: ['TaskFailedToStart'] },
          ],
        },
      },
      targets: [new targets.SnsTopic(this.topic, {
        message: events.RuleTargetInput.fromText(`catalog resync failed: task ${field('$.detail.taskArn')} stopped `
          + `(${field('$.detail.stoppedReason')}). ${runbook(RUNBOOK.resyncFailed)}`),
      })],
    });

    const repaired = new logs.MetricFilter(this, 'ResyncRepairedFilter', {
      logGroup: resyncLogs,
      filterPattern: RESYNC_FINISHED_PATTERN,
      metricNamespace: METRICS_NAMESPACE,
      metricName: `${props.namePrefix}ResyncRepairedPhotos`,
      metricValue: '$.fields.repaired',
    });
    alarm('ResyncRepairs', {
      metric: repaired.metric({ period: Duration.hours(1), statistic: 'Maximum' }),
      alarmDescription: `The nightly resync repaired more than ${RESYNC_REPAIRS_LIMIT} photos in the read model: a `
        + 'projection path is losing writes. Its log group names each repaired photo. ' + runbook(RUNBOOK.resyncRepairs),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      threshold: RESYNC_REPAIRS_LIMIT,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    return failed;
  }
}

/** Creates an alarm that notifies the topic when it fires and when it clears. */
type AlarmFactory = (alarmId: string, options: cloudwatch.AlarmProps) => void;
