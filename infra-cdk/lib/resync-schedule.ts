/**
 * The nightly resync: EventBridge Scheduler starts `catalog resync` as a one-off Fargate task
 * that folds every aggregate from the event store, repairs the read model where it differs and
 * removes orphans, then exits.
 *
 * Its task definition is also the operators' one-off task (run with `aws ecs run-task`, the
 * command overridden). `catalog redrive <role>` moves a consumer's dead letters back to its queue
 * (GetQueueUrl of both, ReceiveMessage from the dead-letter queue, SendMessageBatch to the queue,
 * DeleteMessageBatch from the dead-letter queue), so its role may do that for all three queues.
 * `catalog quarantined [--release]` needs only the event store, which resync uses anyway. The
 * queues are encrypted with SQS-managed keys: no KMS grant is needed.
 *
 * While resources.json lists a `previous_table`, the role may also read that table, so that
 * `catalog rebuild` (the same task, command overridden) can compare the new table with it.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { QueuePair } from './messaging';
import { CatalogProcess, ProcessContext } from './process';
import { indexArns } from './read-model';
import { QueueRole } from './resources';

/** Resync's calls on the read model: pages of it, batches of it, and guarded repairs. */
export const RESYNC_TABLE_ACTIONS = [
  'dynamodb:Scan',
  'dynamodb:BatchGetItem',
  'dynamodb:PutItem',
  'dynamodb:DeleteItem',
] as const;

/**
 * `catalog rebuild`'s reads of the previous table, to compare the new one with it: pages,
 * queries (of the table and its indexes), items and batches of them, and its description.
 */
export const PREVIOUS_TABLE_ACTIONS = [
  'dynamodb:Scan',
  'dynamodb:Query',
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:DescribeTable',
] as const;

/** The previous table and its indexes, which `catalog rebuild` compares the new table with. */
export interface PreviousTable {
  readonly table: dynamodb.ITableV2;
  readonly indexNames: readonly string[];
}

/** The task size of `catalog resync`, and of `catalog rebuild`, which does the same work and more. */
export const RESYNC_TASK_SIZE = { cpu: 512, memoryLimitMiB: 1024 } as const;

/**
 * What `catalog resync` and `catalog rebuild` do to the read model: repair (or fill) the
 * table, and, while there is one, read the previous table. Query and Scan are the only
 * actions an index ARN authorizes, so the other reads are granted on the table alone.
 */
export function allowReadModelRepair(process: CatalogProcess, table: dynamodb.ITableV2, previous?: PreviousTable): void {
  process.allow(RESYNC_TABLE_ACTIONS, [table.tableArn]);
  if (previous !== undefined) {
    process.allow(PREVIOUS_TABLE_ACTIONS, [previous.table.tableArn]);
    process.allow(['dynamodb:Query', 'dynamodb:Scan'], indexArns(previous.table, previous.indexNames));
  }
}

/**
 * Redrive's calls on a dead-letter queue: find it, take its messages (ReceiveMessage, whose
 * visibility timeout parameter needs no other action), remove them (DeleteMessageBatch, which
 * IAM authorizes as sqs:DeleteMessage: batch calls have no actions of their own).
 */
export const REDRIVE_DEAD_LETTER_ACTIONS = [
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:GetQueueUrl',
] as const;

/** Redrive's calls on a queue: find it, send the dead letters back (SendMessageBatch is sqs:SendMessage). */
export const REDRIVE_QUEUE_ACTIONS = ['sqs:SendMessage', 'sqs:GetQueueUrl'] as const;

export interface ResyncScheduleProps extends ProcessContext {
  readonly cluster: ecs.ICluster;
  readonly table: dynamodb.ITableV2;
  /** The previous table, while resources.json lists one. */
  readonly previousTable?: PreviousTable;
  /** Every consumer's queue pair, for `catalog redrive`. */
  readonly queues: Readonly<Record<QueueRole, QueuePair>>;
}

export class ResyncSchedule extends Construct {
  readonly process: CatalogProcess;
  readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: ResyncScheduleProps) {
    super(scope, id);

    this.process = new CatalogProcess(this, 'resync', props, {
      command: 'resync',
      ...RESYNC_TASK_SIZE,
      usesEventStore: true,
    });
    allowReadModelRepair(this.process, props.table, props.previousTable);
    const pairs = Object.values(props.queues);
    this.process.allow(REDRIVE_DEAD_LETTER_ACTIONS, pairs.map((pair) => pair.deadLetterQueue.queueArn));
    this.process.allow(REDRIVE_QUEUE_ACTIONS, pairs.map((pair) => pair.queue.queueArn));

    this.schedule = new scheduler.Schedule(this, 'Nightly', {
      description: 'catalog resync: repair the read model from the event store',
      schedule: scheduler.ScheduleExpression.cron({ minute: '15', hour: '2' }),
      timeWindow: scheduler.TimeWindow.flexible(Duration.minutes(30)),
      target: new schedulerTargets.EcsRunFargateTask(props.cluster, {
        taskDefinition: this.process.taskDefinition,
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        securityGroups: [this.process.securityGroup],
        retryAttempts: 3,
        maxEventAge: Duration.hours(1),
      }),
    });
  }
}
