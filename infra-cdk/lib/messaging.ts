/**
 * The pipeline between the event store and its consumers: the custom event bus the relay
 * publishes to, an archive of every event for replay, and per consumer an SQS queue, its
 * dead-letter queue and the rule that routes to it, all as resources.json declares them.
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
import { CatalogResources, Naming, QueueRole, QueueSpec } from './resources';

/** A consumer's queue with its dead-letter queue and its resources.json entry. */
export interface PipelineQueue {
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
  readonly queues: Readonly<Record<QueueRole, PipelineQueue>>;

  constructor(scope: Construct, id: string, props: MessagingProps) {
    super(scope, id);
    const { resources, naming } = props;

    this.bus = new events.EventBus(this, 'Bus', { eventBusName: naming.name(resources.bus) });
    this.bus.archive('Archive', {
      description: 'Every photo event, for replay',
      eventPattern: { source: [resources.eventSource] },
      retention: Duration.days(90),
    });

    const queues: Partial<Record<QueueRole, PipelineQueue>> = {};
    for (const spec of resources.queues) {
      queues[spec.role] = this.pipelineQueue(spec, resources.eventSource, naming);
    }
    this.queues = queues as Record<QueueRole, PipelineQueue>;
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
      targets: [new targets.SqsQueue(queue, {
        deadLetterQueue,
        maxEventAge: Duration.hours(24),
        retryAttempts: 185,
      })],
    });
    return { spec, queue, deadLetterQueue };
  }
}
