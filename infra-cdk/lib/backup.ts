/**
 * What is backed up, and how (README.md, "Backups and restores"):
 *
 * | data | how | kept |
 * | --- | --- | --- |
 * | Aurora (the event store, the photos' data keys, the sellers' webhook secrets, idempotency answers) | Aurora's continuous backups (restore to any second) | 14 days (database.ts) |
 * | Aurora, again | a daily snapshot into the vault here (AWS Backup) | 35 days |
 * | the originals bucket | versioning (a replaced or deleted original stays as a noncurrent version) | 30 days (storage.ts) |
 * | the originals bucket, again | a daily backup into the vault here (AWS Backup for S3) | 35 days |
 * | the read model (DynamoDB) | nothing to back up: `catalog rebuild` makes it again from the event store; point-in-time recovery is on for a quicker way back | 35 days (read-model.ts) |
 * | variants | nothing: the image processor renders them again from the originals (reprocess) | |
 * | Secrets Manager | not something AWS Backup takes: retained, and a deleted secret is recoverable for its recovery window (30 days) | |
 *
 * Every recovery point lives 35 days at most: DESIGN's erasure promise ("Personal data and its
 * erasure") is that 35 days after a photo's deletion no copy of what its seller wrote is left,
 * and a backup holds the photo's sealed fields and key, and its original, of that day.
 *
 * The vault is retained with its stack's deletion, and its access policy refuses everyone the
 * deletion of a recovery point or a change of its lifecycle: only the lifecycle ends one.
 */
import * as backup from 'aws-cdk-lib/aws-backup';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { Naming } from './resources';

/** How long a daily recovery point is kept: no longer than an erasure may take (see above). */
export const BACKUP_RETENTION_DAYS = 35;

/**
 * The managed policies of the role AWS Backup works with: its own for Aurora (backup, restore),
 * and the ones for S3, which the default policy does not cover.
 */
export const BACKUP_ROLE_POLICIES = [
  'service-role/AWSBackupServiceRolePolicyForBackup',
  'service-role/AWSBackupServiceRolePolicyForRestores',
  'AWSBackupServiceRolePolicyForS3Backup',
  'AWSBackupServiceRolePolicyForS3Restore',
] as const;

/**
 * The tag that puts a resource made outside CloudFormation into the plan: the value is the
 * deployment's (`<prefix>catalog`), so two deployments in one account never take each other's.
 * The runbook of a point-in-time restore tags the restored cluster with it.
 */
export const BACKUP_TAG_KEY = 'catalog-backup';

export interface BackupsProps {
  readonly naming: Naming;
  readonly database: rds.DatabaseCluster;
  readonly originals: s3.IBucket;
}

export class Backups extends Construct {
  readonly vault: backup.BackupVault;
  readonly plan: backup.BackupPlan;
  readonly selection: backup.BackupSelection;
  readonly role: iam.Role;
  /** The value of `BACKUP_TAG_KEY` that selects a resource for this deployment's plan. */
  readonly tagValue: string;

  constructor(scope: Construct, id: string, props: BackupsProps) {
    super(scope, id);

    this.vault = new backup.BackupVault(this, 'Vault', {
      backupVaultName: props.naming.name('catalog'),
      blockRecoveryPointDeletion: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.plan = new backup.BackupPlan(this, 'Plan', {
      backupPlanName: props.naming.name('catalog'),
      backupVault: this.vault,
      backupPlanRules: [new backup.BackupPlanRule({
        ruleName: 'daily',
        // Clear of Aurora's own backup window (03:30-04:30 UTC) and maintenance window (Sundays
        // 05:00-06:00 UTC, database.ts), as AWS Backup asks of RDS jobs.
        scheduleExpression: events.Schedule.cron({ hour: '7', minute: '0' }),
        startWindow: Duration.hours(1),
        completionWindow: Duration.hours(8),
        deleteAfter: Duration.days(BACKUP_RETENTION_DAYS),
      })],
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('backup.amazonaws.com'),
      description: 'AWS Backup: the daily backups of the event store and the originals bucket, and their restores',
      managedPolicies: BACKUP_ROLE_POLICIES.map((name) => iam.ManagedPolicy.fromAwsManagedPolicyName(name)),
    });
    NagSuppressions.addResourceSuppressions(this.role, [{
      id: 'AwsSolutions-IAM4',
      reason: 'AWS Backup documents these managed policies as the permissions of its service role (RDS/Aurora '
        + 'snapshots, and S3 backups and restores, which the default policy lacks); AWS keeps them in step with the '
        + 'services, and the backup selection decides which resources the plan touches.',
      appliesTo: BACKUP_ROLE_POLICIES.map((name) => `Policy::arn:<AWS::Partition>:iam::aws:policy/${name}`),
    }]);

    this.tagValue = props.naming.name('catalog');
    this.selection = this.plan.addSelection('Selection', {
      backupSelectionName: 'event-store-and-originals',
      resources: [
        backup.BackupResource.fromRdsDatabaseCluster(props.database),
        backup.BackupResource.fromArn(props.originals.bucketArn),
        // A cluster restored to a point in time (README.md, Operations) joins the plan by its tag.
        backup.BackupResource.fromTag(BACKUP_TAG_KEY, this.tagValue),
      ],
      role: this.role,
      // The role has its policies already (above).
      disableDefaultBackupPolicy: true,
    });
  }
}
