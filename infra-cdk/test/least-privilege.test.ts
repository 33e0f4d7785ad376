/** Each process's task role may make exactly the calls the process makes, on its own resources. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { EMF_LOG_ACTIONS, TRACE_ACTIONS } from '../lib/observability';
import { PREVIOUS_TABLE_ACTIONS, RESYNC_TABLE_ACTIONS } from '../lib/resync-schedule';
import { actionsOf, COMMANDS, Grant, PREFIX, resources, resourcesFor, resourcesOf, synth, taskRoleGrants } from './synth';

const CONSUMER = ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'];
const sorted = (actions: string[]): string[] => [...actions].sort();
/** Each action once (minimized policies may grant one action in two statements, on different resources). */
const distinct = (actions: string[]): string[] => [...new Set(actions)].sort();
/** What every process that uses Postgres may do: read the cluster's secret (checked in services.test.ts) and the
 * photos' data-key secret, decrypted with its KMS key; the write API and the notifier read the webhook secrets' key by
 * the same action (checked below). */
const DATABASE = ['kms:Decrypt', 'secretsmanager:GetSecretValue'];
/** What every task's telemetry collector may do (checked in observability.test.ts): send traces, write its metric events. */
const TELEMETRY = [...TRACE_ACTIONS, ...EMF_LOG_ACTIONS];

test('no task role holds a wildcard action', () => {
  const { services } = synth();
  for (const command of COMMANDS) {
    assert.ok(actionsOf(services, command).every((action) => !action.includes('*')), command);
  }
});

test('the write API may use only the originals bucket', () => {
  const { services } = synth();
  assert.deepEqual(actionsOf(services, 'write-api'),
    sorted([...DATABASE, ...TELEMETRY, 's3:AbortMultipartUpload', 's3:DeleteObject', 's3:DeleteObjectTagging', 's3:GetObject',
      's3:ListBucket', 's3:PutObject', 's3:PutObjectTagging']));
  for (const action of ['s3:PutObject', 's3:ListBucket']) {
    assert.ok(resourcesFor(services, 'write-api', action).every((resource) => /StorageOriginals/.test(resource)), action);
  }
});

/** The export of the new table's ARN (by its logical id in CatalogData), as a services policy imports it. */
function newTableImport(): string {
  const { data } = synth();
  const id = Object.entries(resourcesOf(data, 'AWS::DynamoDB::GlobalTable'))
    .find(([, table]) => table.Properties!.TableName === PREFIX + resources.table.name)![0];
  return JSON.stringify({ 'Fn::ImportValue': `CatalogData:ExportsOutputFnGetAtt${id}Arn` }).replace(/"\}$/, '');
}

/** The previous table's ARN as the services stack names it (by name, not by an import). */
const PREVIOUS_TABLE = `:table/${PREFIX}${resources.previousTable!.name}`;

test("the read API's role cannot write DynamoDB, nor touch S3 or the queues", () => {
  const { services } = synth();
  assert.deepEqual(actionsOf(services, 'read-api'),
    sorted([...TELEMETRY, 'dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:Query']));
});

test("the read API queries the new table and every one of its indexes, and nothing of the previous table", () => {
  const { services } = synth();
  const [query] = resourcesFor(services, 'read-api', 'dynamodb:Query');
  const table = newTableImport();
  // The table itself, then each index of resources.json by its ARN.
  const granted = (JSON.parse(query!) as unknown[]).map((resource) => JSON.stringify(resource));
  assert.equal(granted.length, 1 + resources.table.indexes.length, query);
  assert.ok(granted[0]!.startsWith(table), granted[0]);
  for (const index of resources.table.indexes) {
    assert.ok(granted.some((resource) => resource.startsWith(`{"Fn::Join":["",[${table}`) && resource.endsWith(`"/index/${index.name}"]]}`)),
      `Query on index ${index.name}`);
  }
  assert.deepEqual(resourcesFor(services, 'read-api', 'dynamodb:DescribeTable').map((resource) => resource.startsWith(table)), [true]);
  for (const command of ['read-api', 'project']) {
    assert.doesNotMatch(JSON.stringify(taskRoleGrants(services, command)), /ReadModelTable152641BF|:table\//, command);
  }
});

test('the relay may only put events on the bus', () => {
  const { services } = synth();
  assert.deepEqual(actionsOf(services, 'relay'), sorted([...DATABASE, ...TELEMETRY, 'events:PutEvents']));
  assert.deepEqual(resourcesFor(services, 'relay', 'events:PutEvents').map((resource) => /MessagingBus/.test(resource)), [true]);
});

test('the projector consumes its queue and puts items in the new table; it cannot touch S3', () => {
  const { services } = synth();
  assert.deepEqual(actionsOf(services, 'project'), sorted([...CONSUMER, ...TELEMETRY, 'dynamodb:PutItem']));
  assert.deepEqual(resourcesFor(services, 'project', 'dynamodb:PutItem').map((resource) => resource.startsWith(newTableImport())), [true]);
  assert.ok(resourcesFor(services, 'project', 'sqs:ReceiveMessage').every((resource) => /ProjectorQueue/.test(resource)));
});

test('the image processor may use only its queue pair, originals/*, variants/* and the variants CDN', () => {
  const { services } = synth();
  // It HEADs, GETs and deletes originals (every version of a purged one) and removes their upload tag, but never
  // reads or writes tags, nor reads an old version.
  assert.deepEqual(distinct(actionsOf(services, 'process-images')), sorted([...CONSUMER, ...DATABASE, ...TELEMETRY,
    'cloudfront:CreateInvalidation', 's3:DeleteObject', 's3:DeleteObjectTagging', 's3:DeleteObjectVersion', 's3:GetObject',
    's3:ListBucket', 's3:ListBucketVersions', 's3:PutObject']));
});

test("the image processor may list an original's versions and delete each, under the originals' key prefix only", () => {
  const { services } = synth();
  const deleted = resourcesFor(services, 'process-images', 's3:DeleteObjectVersion');
  assert.equal(deleted.length, 1);
  assert.match(deleted[0]!, new RegExp(`StorageOriginals[^"]*"\\},"/${resources.uploadEvents.keyPrefix}\\*"`));
  const listed = taskRoleGrants(services, 'process-images').filter((grant) => grant.actions.includes('s3:ListBucketVersions'));
  assert.equal(listed.length, 1);
  assert.match(listed[0]!.resources, /^\{"Fn::ImportValue":"[^"]*StorageOriginals[^"]*"\}$/, 'the originals bucket itself');
  assert.deepEqual(JSON.parse(listed[0]!.conditions), { StringLike: { 's3:prefix': [`${resources.uploadEvents.keyPrefix}*`] } });
  // No other role deletes versions or lists them: the write API deletes only the current object.
  for (const command of COMMANDS.filter((name) => name !== 'process-images')) {
    const actions = actionsOf(services, command);
    assert.ok(!actions.includes('s3:DeleteObjectVersion') && !actions.includes('s3:ListBucketVersions'), command);
  }
});

test('the image processor consumes its queue and its dead-letter queue, no other', () => {
  const { services } = synth();
  for (const action of CONSUMER) {
    const granted = resourcesFor(services, 'process-images', action).join();
    assert.match(granted, /MessagingImagesQueue/, action);
    assert.match(granted, /MessagingImagesDlq/, action);
    assert.doesNotMatch(granted, /Projector|Notifier/, action);
  }
});

test('the image processor reads, untags and deletes originals under their key prefix only', () => {
  const { services } = synth();
  const originals = `"/${resources.uploadEvents.keyPrefix}*"`;
  for (const action of ['s3:GetObject', 's3:DeleteObjectTagging']) {
    const granted = resourcesFor(services, 'process-images', action);
    assert.equal(granted.length, 1, action);
    assert.match(granted[0]!, /StorageOriginals/, action);
    assert.ok(granted[0]!.includes(originals), `${action}: ${granted[0]}`);
  }
});

test('the image processor writes, lists and deletes variants under variants/ only', () => {
  const { services } = synth();
  const put = resourcesFor(services, 'process-images', 's3:PutObject');
  assert.equal(put.length, 1);
  assert.match(put[0]!, /StorageVariants[^"]*"\},"\/variants\/\*"/);
  // A purge deletes the original and the variants: each under its own prefix.
  const deleted = resourcesFor(services, 'process-images', 's3:DeleteObject').join();
  assert.match(deleted, /StorageOriginals[^"]*"\},"\/originals\/\*"/);
  assert.match(deleted, /StorageVariants[^"]*"\},"\/variants\/\*"/);
  assert.equal((deleted.match(/Storage[A-Za-z]+/g) ?? []).length, 2, deleted);
  const list = listGrants('StorageVariants');
  assert.deepEqual(list.map((grant) => grant.actions), [['s3:ListBucket']]);
  assert.match(list[0]!.resources, /^\{"Fn::ImportValue":"[^"]*StorageVariants[^"]*"\}$/, 'the variants bucket itself');
  assert.deepEqual(JSON.parse(list[0]!.conditions), { StringLike: { 's3:prefix': ['variants/*'] } });
});

test('the image processor may list originals (and their versions) under their key prefix only, so a HEAD of a missing original is 404', () => {
  const list = listGrants('StorageOriginals');
  assert.deepEqual(list.map((grant) => grant.actions), [['s3:ListBucket', 's3:ListBucketVersions']]);
  assert.match(list[0]!.resources, /^\{"Fn::ImportValue":"[^"]*StorageOriginals[^"]*"\}$/, 'the originals bucket itself');
  assert.deepEqual(JSON.parse(list[0]!.conditions), { StringLike: { 's3:prefix': [`${resources.uploadEvents.keyPrefix}*`] } });
});

test('the image processor lists no bucket but the originals and the variants, each under a condition', () => {
  const list = listGrants(/./);
  assert.equal(list.length, 2);
  assert.ok(list.every((grant) => /StorageOriginals|StorageVariants/.test(grant.resources)), JSON.stringify(list));
  assert.ok(list.every((grant) => grant.conditions !== 'null'), JSON.stringify(list));
});

/** The image processor's statements that grant s3:ListBucket, on resources matching `bucket`. */
function listGrants(bucket: string | RegExp) {
  return taskRoleGrants(synth().services, 'process-images')
    .filter((grant) => grant.actions.includes('s3:ListBucket') && new RegExp(bucket).test(grant.resources));
}

test("the image processor may invalidate the variants' distribution, and no other", () => {
  const { services } = synth();
  const granted = taskRoleGrants(services, 'process-images').filter((grant) => grant.actions.includes('cloudfront:CreateInvalidation'));
  assert.deepEqual(granted.map((grant) => grant.actions), [['cloudfront:CreateInvalidation']]);
  assert.match(granted[0]!.resources, /":cloudfront::",\{"Ref":"AWS::AccountId"\},":distribution\/",\{"Fn::ImportValue":"[^"]*StorageVariantsCdn[^"]*"\}/);
  assert.doesNotMatch(granted[0]!.resources, /\*/);
});

test('the notifier may only consume its queue (and reach Postgres)', () => {
  const { services } = synth();
  assert.deepEqual(actionsOf(services, 'notify'), sorted([...CONSUMER, ...DATABASE, ...TELEMETRY]));
  assert.ok(resourcesFor(services, 'notify', 'sqs:ReceiveMessage').every((resource) => /NotifierQueue/.test(resource)));
});

test('the resync may scan, batch-read, put and delete read-model items, read the previous table, and redrive dead letters; nothing else', () => {
  const { services } = synth();
  assert.deepEqual(distinct(actionsOf(services, 'resync')),
    sorted([...DATABASE, ...TELEMETRY, 'dynamodb:BatchGetItem', 'dynamodb:DeleteItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem',
      'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:Scan',
      'sqs:DeleteMessage', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage', 'sqs:SendMessage']));
});

/**
 * The DynamoDB grants of a resync-like role: on the new table (as `newTable` tells a resource
 * of it), and on the previous table and its indexes (matched by `previous`).
 */
function tableGrants(grants: Grant[], newTable: (resource: string) => boolean, previous: RegExp) {
  const dynamodb = grants.filter((grant) => grant.actions.some((action) => action.startsWith('dynamodb:')));
  const on = (test: (resource: string) => boolean) => dynamodb.filter((grant) => test(grant.resources));
  return {
    all: dynamodb,
    newTable: on(newTable).flatMap((grant) => grant.actions).sort(),
    previousTable: on((resource) => previous.test(resource) && !resource.includes('/index/')).flatMap((grant) => grant.actions).sort(),
    previousIndexes: on((resource) => previous.test(resource) && resource.includes('/index/')),
  };
}

/** Asserts a role repairs the new table as the resync does, and may only read the previous one (and its indexes). */
function assertRebuildGrants(grants: Grant[], newTable: (resource: string) => boolean, previous: RegExp): void {
  const found = tableGrants(grants, newTable, previous);
  assert.deepEqual(found.newTable, sorted([...RESYNC_TABLE_ACTIONS]));
  assert.deepEqual(found.previousTable, sorted([...PREVIOUS_TABLE_ACTIONS]));
  assert.deepEqual(found.previousIndexes.map((grant) => grant.actions.sort()), [['dynamodb:Query', 'dynamodb:Scan']]);
  for (const index of resources.previousTable!.indexes) {
    assert.match(found.previousIndexes[0]!.resources, new RegExp(`/index/${index.name}"`), index.name);
  }
  // Nothing else: no statement on any other table, no write on the previous one.
  assert.equal(found.all.length, 3, JSON.stringify(found.all));
}

test('the resync (catalog rebuild, after the switch) repairs the new table and may only read the previous one', () => {
  const { services } = synth();
  const table = newTableImport();
  assertRebuildGrants(taskRoleGrants(services, 'resync'), (resource) => resource.startsWith(table), new RegExp(PREVIOUS_TABLE));
  // Named, not imported: dropping previous_table later must not remove an export this stack imports.
  assert.doesNotMatch(JSON.stringify(resourcesFor(services, 'resync', 'dynamodb:GetItem')), /ImportValue/);
});

test('the one-off rebuild (CatalogData) fills the new table and may only read the previous one; no other call but Postgres\'', () => {
  const { data } = synth();
  const byId = (name: string) => Object.entries(resourcesOf(data, 'AWS::DynamoDB::GlobalTable'))
    .find(([, table]) => table.Properties!.TableName === PREFIX + name)![0];
  const table = JSON.stringify({ 'Fn::GetAtt': [byId(resources.table.name), 'Arn'] });
  assertRebuildGrants(taskRoleGrants(data, 'rebuild'), (resource) => resource === table,
    new RegExp(`"${byId(resources.previousTable!.name)}"`));
  assert.deepEqual(distinct(actionsOf(data, 'rebuild')).filter((action) => !action.startsWith('dynamodb:')),
    sorted([...DATABASE, ...TELEMETRY]));
  assert.ok(actionsOf(data, 'rebuild').every((action) => !action.includes('*')));
});

test('the resync task (catalog redrive) takes from every dead-letter queue and sends to its queue', () => {
  const { services } = synth();
  const roles = resources.queues.map((spec) => spec.role.charAt(0).toUpperCase() + spec.role.slice(1));
  // ReceiveMessage, then DeleteMessageBatch (authorized as sqs:DeleteMessage) on the dead-letter queue.
  for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage']) {
    const granted = resourcesFor(services, 'resync', action).join();
    for (const role of roles) {
      assert.match(granted, new RegExp(`Messaging${role}Dlq`), `${action} on the ${role} dead-letter queue`);
    }
    assert.doesNotMatch(granted, /Messaging[A-Za-z]+Queue/, `${action} on no queue`);
  }
  // SendMessageBatch, authorized as sqs:SendMessage, to the queue.
  const sent = resourcesFor(services, 'resync', 'sqs:SendMessage').join();
  for (const role of roles) {
    assert.match(sent, new RegExp(`Messaging${role}Queue`), `SendMessage to the ${role} queue`);
  }
  assert.doesNotMatch(sent, /Dlq/, 'SendMessage to no dead-letter queue');
  const located = resourcesFor(services, 'resync', 'sqs:GetQueueUrl').join();
  for (const role of roles) {
    assert.match(located, new RegExp(`Messaging${role}Queue`), role);
    assert.match(located, new RegExp(`Messaging${role}Dlq`), role);
  }
});

test("only the write API and the notifier may read the webhook secrets' key, by GetSecretValue alone", () => {
  const { services } = synth();
  for (const command of COMMANDS) {
    const grants = taskRoleGrants(services, command).filter((grant) => /SecretsWebhookSecretsKey/.test(grant.resources));
    assert.deepEqual(grants.map((grant) => grant.actions),
      ['write-api', 'notify'].includes(command) ? [['secretsmanager:GetSecretValue']] : [], command);
  }
});

test('no role may read a secret it does not name (no wildcard secret resources)', () => {
  const { services } = synth();
  for (const command of COMMANDS) {
    for (const resource of resourcesFor(services, command, 'secretsmanager:GetSecretValue')) {
      assert.doesNotMatch(resource, /\*/, command);
    }
  }
});
