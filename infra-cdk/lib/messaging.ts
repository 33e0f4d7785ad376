/**
 * The pipeline between the event store and its consumers: the custom event bus the relay
 * publishes to, an archive of every event for replay, and per consumer an SQS queue, its
 * dead-letter queue and the rule that routes to it, all as resources.json declares them.
 *
 * One more rule lives on the account's default bus, where S3 delivers its own events: the
 * originals bucket's "Object Created" events (keys under `upload_events.key_prefix`) go to the
 * queue of `upload_events.queue_role`, so the image processor records an upload whose client
 * never said it was done. Its pattern is the one `upload_pattern()` of the Rust resources builds.
 *
 * Each rule target uses the queue's own dead-letter queue for events EventBridge could not
 * deliver: both kinds of dead letter carry the same event JSON, so one redrive returns either
 * to its queue, and one alarm watches both.
 */
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { CatalogResources, Naming, QueueRole, QueueSpec, UploadEventsSpec } from './resources';

/** The bus S3 delivers its events to: the account's default bus, in every account. */
export const DEFAULT_BUS = 'default';

/** A consumer's queue and its dead-letter queue, as the processes, alarms and redrive use them. */
export interface QueuePair {
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
}

/** A consumer's queue with its dead-letter queue and its resources.json entry. */
export interface PipelineQueue extends QueuePair {
  readonly spec: QueueSpec;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
}

export interface MessagingProps {
  readonly resources: CatalogResources;
  readonly naming: Naming;
}

export class Messaging extends Construct {
  readonly bus: events.EventBus;
  /** Every catalog event of the last 30 days, for `aws events start-replay` (README.md, Operations). */
  readonly archive: events.Archive;
  readonly queues: Readonly<Record<QueueRole, PipelineQueue>>;
  /** The rule on the default bus that routes S3's "Object Created" events of originals. */
  readonly uploadRule: events.Rule;

  constructor(scope: Construct, id: string, props: MessagingProps) {
    super(scope, id);
    const { resources, naming } = props;

    this.bus = new events.EventBus(this, 'Bus', { eventBusName: naming.name(resources.bus) });
    // An envelope carries the photo's personal fields in the clear: the archive keeps it no
    // longer than an erasure may take (docs/DESIGN.md, "Personal data and its erasure").
    this.archive = this.bus.archive('Archive', {
      description: 'Every photo event, for replay',
      eventPattern: { source: [resources.eventSource] },
      retention: Duration.days(30),
    });

    const queues: Partial<Record<QueueRole, PipelineQueue>> = {};
    for (const spec of resources.queues) {
      queues[spec.role] = this.pipelineQueue(spec, resources.eventSource, naming);
    }
    this.queues = queues as Record<QueueRole, PipelineQueue>;
    this.uploadRule = this.uploadEventsRule(resources.uploadEvents, naming.name(resources.buckets.originals), naming);
  }

  /** S3's "Object Created" events of originals, from the default bus to their consumer's queue. */
  private uploadEventsRule(spec: UploadEventsSpec, originalsBucketName: string, naming: Naming): events.Rule {
    return new events.Rule(this, 'UploadEventsRule', {
      ruleName: naming.name(spec.rule),
      eventBus: events.EventBus.fromEventBusName(this, 'DefaultBus', DEFAULT_BUS),
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [originalsBucketName] },
          object: { key: [{ prefix: spec.keyPrefix }] },
        },
      },
      targets: [queueTarget(this.queues[spec.queueRole])],
    });
  }

  private pipelineQueue(spec: QueueSpec, eventSource: string, naming: Naming): PipelineQueue {
    const id = spec.role.charAt(0).toUpperCase() + spec.role.slice(1);
    const deadLetterQueue = new sqs.Queue(this, `${id}Dlq`, {
      queueName: naming.name(spec.deadLetterQueue),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const queue = new sqs.Queue(this, `${id}Queue`, {
      queueName: naming.name(spec.name),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(spec.visibilityTimeoutSecs),
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: spec.maxReceiveCount },
    });
    new events.Rule(this, `${id}Rule`, {
      ruleName: naming.name(spec.rule),
      eventBus: this.bus,
      eventPattern: { source: [eventSource], detailType: spec.detailTypes ? [...spec.detailTypes] : undefined },
      targets: [queueTarget({ queue, deadLetterQueue })],
    });
    return { spec, queue, deadLetterQueue };
  }
}

/**
 * A rule target that sends to a consumer's queue; what EventBridge cannot deliver within a day
 * (its retries spent) goes to the queue's dead-letter queue. The target also adds the queue
 * policies that let the rule send to both.
 */
function queueTarget(pipeline: QueuePair): targets.SqsQueue {
  return new targets.SqsQueue(pipeline.queue, {
    deadLetterQueue: pipeline.deadLetterQueue,
    maxEventAge: Duration.hours(24),
    retryAttempts: 185,
  });
}
