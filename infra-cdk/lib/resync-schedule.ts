/**
 * The nightly resync: EventBridge Scheduler starts `catalog resync` as a one-off Fargate task
 * that folds every aggregate from the event store, repairs the read model where it differs and
 * removes orphans, then exits.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { CatalogProcess, ProcessContext } from './process';

/** Resync's calls on the read model: pages of it, batches of it, and guarded repairs. */
export const RESYNC_TABLE_ACTIONS = [
  'dynamodb:Scan',
  'dynamodb:BatchGetItem',
  'dynamodb:PutItem',
  'dynamodb:DeleteItem',
] as const;

export interface ResyncScheduleProps extends ProcessContext {
  readonly cluster: ecs.ICluster;
  readonly table: dynamodb.ITableV2;
}

export class ResyncSchedule extends Construct {
  readonly process: CatalogProcess;
  readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: ResyncScheduleProps) {
    super(scope, id);

    this.process = new CatalogProcess(this, 'resync', props, {
      command: 'resync',
      cpu: 512,
      memoryLimitMiB: 1024,
      usesEventStore: true,
    });
    this.process.allow(RESYNC_TABLE_ACTIONS, [props.table.tableArn]);

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
