/**
 * What pages someone: a dead letter anywhere (a message the pipeline gave up on), a queue whose
 * oldest message is too old (the projector's is the projection lag: how stale catalog pages
 * are), an event the relay set aside, and 5xx answers from either API or from the load balancer
 * itself. Every alarm goes to one SNS topic, encrypted with a key CloudWatch may use.
 *
 * A set-aside ("quarantined") event is one the relay cannot publish (unreadable, or too large
 * for EventBridge): no consumer will ever see it, and nothing but the relay's log says so. A
 * metric filter counts those log lines (`quarantined: true` among the JSON line's fields).
 */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
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

export interface AlarmsProps {
  readonly queues: Readonly<Record<QueueRole, QueuePair>>;
  /** The relay's log group, where it reports the events it sets aside. */
  readonly relayLogs: logs.ILogGroup;
  /** Starts the names of the catalog's own metrics, so two deployments in one account keep theirs apart. */
  readonly namePrefix: string;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroups: Readonly<Record<string, elbv2.ApplicationTargetGroup>>;
  /** An address to subscribe to the alarm topic, if any. */
  readonly email?: string;
}

export class Alarms extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);

    const key = new kms.Key(this, 'TopicKey', {
      description: 'Encrypts the catalog alarm topic',
      enableKeyRotation: true,
    });
    key.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new sns.Topic(this, 'Topic', { masterKey: key, enforceSSL: true });
    if (props.email !== undefined) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    }
    const notify = new actions.SnsAction(this.topic);
    const alarm = (alarmId: string, options: cloudwatch.AlarmProps): void => {
      const created = new cloudwatch.Alarm(this, alarmId, options);
      created.addAlarmAction(notify);
      created.addOkAction(notify);
    };

    for (const [role, { queue, deadLetterQueue }] of Object.entries(props.queues)) {
      const limit = QUEUE_AGE_LIMITS[role as QueueRole];
      alarm(`${role}DeadLetters`, {
        metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        alarmDescription: `Messages in the ${role} dead-letter queue: inspect them, fix the cause, then run `
          + `\`catalog redrive ${role}\` (README, Operations).`,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        threshold: 0,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm(role === 'projector' ? 'ProjectionLag' : `${role}QueueAge`, {
        metric: queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
        alarmDescription: role === 'projector'
          ? 'Projection lag: the read model is behind the event store.'
          : `The ${role} queue's oldest message is older than ${limit.toMinutes()} minutes.`,
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
        + 'no consumer will see it. Its log line ("an event was set aside") names the photo, the sequence and the reason.',
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      threshold: 1,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    for (const [name, targetGroup] of Object.entries(props.targetGroups)) {
      alarm(`${name}ServerErrors`, {
        metric: targetGroup.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: fiveMinutes, statistic: 'Sum' }),
        alarmDescription: `The ${name} answered 5xx.`,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        threshold: SERVER_ERRORS_PER_5_MINUTES,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    alarm('LoadBalancerServerErrors', {
      metric: props.loadBalancer.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period: fiveMinutes, statistic: 'Sum' }),
      alarmDescription: 'The load balancer answered 5xx itself (no healthy target, timeouts).',
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      threshold: SERVER_ERRORS_PER_5_MINUTES,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}
