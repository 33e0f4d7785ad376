/** The backup vault and plan: the event store and the originals daily, kept no longer than an erasure may take. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { BACKUP_RETENTION_DAYS, BACKUP_ROLE_POLICIES, BACKUP_TAG_KEY } from '../lib/backup';
import { logicalIdOf, PREFIX, resources, resourcesOf, synth } from './synth';

test('the vault is retained, and nobody may delete a recovery point or shorten its life', () => {
  synth().data.hasResource('AWS::Backup::BackupVault', {
    DeletionPolicy: 'Retain',
    UpdateReplacePolicy: 'Retain',
    Properties: {
      BackupVaultName: `${PREFIX}catalog`,
      AccessPolicy: {
        Version: '2012-10-17',
        Statement: [{
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: ['backup:DeleteRecoveryPoint', 'backup:UpdateRecoveryPointLifecycle'],
          Resource: '*',
        }],
      },
    },
  });
});

test('the plan backs up daily, clear of Aurora\'s own backup and maintenance windows, and keeps each recovery point 35 days', () => {
  const { data } = synth();
  const plans = Object.values(resourcesOf(data, 'AWS::Backup::BackupPlan'));
  assert.equal(plans.length, 1);
  const vault = logicalIdOf(data, 'AWS::Backup::BackupVault');
  assert.deepEqual(plans[0]!.Properties!.BackupPlan.BackupPlanRule, [{
    RuleName: 'daily',
    ScheduleExpression: 'cron(0 7 * * ? *)',
    StartWindowMinutes: 60,
    CompletionWindowMinutes: 480,
    Lifecycle: { DeleteAfterDays: 35 },
    TargetBackupVault: { 'Fn::GetAtt': [vault, 'BackupVaultName'] },
  }]);
  // Aurora's backup window (03:30-04:30) and maintenance window (Sundays 05:00-06:00) end before the plan's starts.
  data.hasResourceProperties('AWS::RDS::DBCluster', {
    PreferredBackupWindow: '03:30-04:30',
    PreferredMaintenanceWindow: 'sun:05:00-sun:06:00',
  });
});

test('no copy outlives the erasure promise: every backup and recovery window is 35 days at most', () => {
  const { data } = synth();
  assert.ok(BACKUP_RETENTION_DAYS <= 35);
  const [cluster] = Object.values(resourcesOf(data, 'AWS::RDS::DBCluster'));
  assert.ok(cluster!.Properties!.BackupRetentionPeriod <= 35);
  // DynamoDB's point-in-time recovery keeps 35 days (its default recovery period).
  for (const table of Object.values(resourcesOf(data, 'AWS::DynamoDB::GlobalTable'))) {
    const pitr = table.Properties!.Replicas[0].PointInTimeRecoverySpecification;
    assert.ok((pitr.RecoveryPeriodInDays ?? 35) <= 35);
  }
});

test('the plan selects the Aurora cluster, the originals bucket and clusters restored by the runbook, nothing else', () => {
  const { data } = synth();
  const selections = Object.values(resourcesOf(data, 'AWS::Backup::BackupSelection'));
  assert.equal(selections.length, 1);
  const selection = selections[0]!.Properties!;
  assert.deepEqual(selection.BackupPlanId, { 'Fn::GetAtt': [logicalIdOf(data, 'AWS::Backup::BackupPlan'), 'BackupPlanId'] });
  const cluster = logicalIdOf(data, 'AWS::RDS::DBCluster');
  const originals = logicalIdOf(data, 'AWS::S3::Bucket', new RegExp(`"BucketName":"${PREFIX}${resources.buckets.originals}"`));
  assert.deepEqual(selection.BackupSelection.Resources, [
    { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':rds:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':cluster:', { Ref: cluster }]] },
    { 'Fn::GetAtt': [originals, 'Arn'] },
  ]);
  assert.deepEqual(selection.BackupSelection.ListOfTags, [
    { ConditionType: 'STRINGEQUALS', ConditionKey: BACKUP_TAG_KEY, ConditionValue: `${PREFIX}catalog` },
  ]);
  // The read model is rebuilt from the event store, the variants from the originals: neither is selected.
  const selected = JSON.stringify(selection);
  for (const table of Object.keys(resourcesOf(data, 'AWS::DynamoDB::GlobalTable'))) {
    assert.ok(!selected.includes(table), table);
  }
  const variants = logicalIdOf(data, 'AWS::S3::Bucket', new RegExp(`"BucketName":"${PREFIX}${resources.buckets.variants}"`));
  assert.ok(!selected.includes(variants));
});

test('AWS Backup works with a role of its own, which may back up and restore Aurora and S3', () => {
  const { data } = synth();
  const [selection] = Object.values(resourcesOf(data, 'AWS::Backup::BackupSelection'));
  const role = selection!.Properties!.BackupSelection.IamRoleArn['Fn::GetAtt'][0] as string;
  const properties = resourcesOf(data, 'AWS::IAM::Role')[role]!.Properties!;
  assert.deepEqual(properties.AssumeRolePolicyDocument.Statement.map((statement: any) => statement.Principal),
    [{ Service: 'backup.amazonaws.com' }]);
  const policies = (properties.ManagedPolicyArns as { 'Fn::Join': [string, unknown[]] }[])
    .map((arn) => arn['Fn::Join'][1].at(-1) as string);
  assert.deepEqual(policies, BACKUP_ROLE_POLICIES.map((name) => `:iam::aws:policy/${name}`));
});

test('the originals bucket is versioned, which AWS Backup for S3 requires', () => {
  synth().data.hasResourceProperties('AWS::S3::Bucket', {
    BucketName: `${PREFIX}${resources.buckets.originals}`,
    VersioningConfiguration: { Status: 'Enabled' },
  });
});

test('the runbooks have what they need as outputs: the cluster, its subnets, security group and secret, the vault and its role, the archive', () => {
  const { data } = synth();
  const outputs = data.toJSON().Outputs as Record<string, { Value: unknown }>;
  const cluster = logicalIdOf(data, 'AWS::RDS::DBCluster');
  assert.deepEqual(outputs['DatabaseClusterIdentifier']!.Value, { Ref: cluster });
  assert.deepEqual(outputs['DatabaseSubnetGroup']!.Value, { Ref: logicalIdOf(data, 'AWS::RDS::DBSubnetGroup') });
  assert.match(JSON.stringify(outputs['DatabaseSecurityGroup']!.Value), /DatabaseClusterSecurityGroup/);
  assert.match(JSON.stringify(outputs['DatabaseSecretArn']!.Value), /DatabaseClusterSecretAttachment/);
  assert.deepEqual(outputs['BackupVaultName']!.Value, { 'Fn::GetAtt': [logicalIdOf(data, 'AWS::Backup::BackupVault'), 'BackupVaultName'] });
  const [selection] = Object.values(resourcesOf(data, 'AWS::Backup::BackupSelection'));
  assert.deepEqual(outputs['BackupRoleArn']!.Value, selection!.Properties!.BackupSelection.IamRoleArn);
  assert.deepEqual(outputs['EventArchiveArn']!.Value, { 'Fn::GetAtt': [logicalIdOf(data, 'AWS::Events::Archive'), 'Arn'] });
  assert.match(JSON.stringify(outputs['EventBusArn']!.Value), /MessagingBus/);
});
