/** Each process's task role may make exactly the calls the process makes, on its own resources. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { actionsOf, COMMANDS, resourcesFor, synth, taskRoleGrants } from './synth';

const CONSUMER = ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'];
const sorted = (actions: string[]): string[] => [...actions].sort();
/** What every process that uses Postgres may do: read the cluster's secret (checked in services.test.ts); the write
 * API and the notifier read the webhook secrets' key by the same action (checked below). */
const DATABASE = ['secretsmanager:GetSecretValue'];

test('no task role holds a wildcard action', () => {
  const { services } = synth();
  for (const command of COMMANDS) {
    assert.ok(actionsOf(services, command).every((action) => !action.includes('*')), command);
  }
});

test('the write API may use only the originals bucket', () => {
  const { services } = synth();
  assert.deepEqual(actionsOf(services, 'write-api'),
    sorted([...DATABASE, 's3:AbortMultipartUpload', 's3:DeleteObject', 's3:DeleteObjectTagging', 's3:GetObject',
      's3:ListBucket', 's3:PutObject', 's3:PutObjectTagging']));
  for (const action of ['s3:PutObject', 's3:ListBucket']) {
    assert.ok(resourcesFor(services, 'write-api', action).every((resource) => /StorageOriginals/.test(resource)), action);
  }
});

test("the read API's role cannot write DynamoDB, nor touch S3 or the queues", () => {
  const { services } = synth();
  assert.deepEqual(actionsOf(services, 'read-api'), sorted(['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:Query']));
  const query = resourcesFor(services, 'read-api', 'dynamodb:Query').join();
  assert.match(query, /\/index\/gallery/);
  assert.match(query, /\/index\/inventory/);
});

test('the relay may only put events on the bus', () => {
  const { services } = synth();
  assert.deepEqual(actionsOf(services, 'relay'), sorted([...DATABASE, 'events:PutEvents']));
  assert.deepEqual(resourcesFor(services, 'relay', 'events:PutEvents').map((resource) => /MessagingBus/.test(resource)), [true]);
});

test('the projector consumes its queue and puts items; it cannot touch S3', () => {
  const { services } = synth();
  assert.deepEqual(actionsOf(services, 'project'), sorted([...CONSUMER, 'dynamodb:PutItem']));
  assert.ok(resourcesFor(services, 'project', 'sqs:ReceiveMessage').every((resource) => /ProjectorQueue/.test(resource)));
});

test('the image processor reads originals and writes variants; no DynamoDB, no other queue', () => {
  const { services } = synth();
  assert.deepEqual(actionsOf(services, 'process-images'), sorted([...CONSUMER, ...DATABASE, 's3:DeleteObject', 's3:GetObject', 's3:PutObject']));
  assert.ok(resourcesFor(services, 'process-images', 's3:GetObject').every((resource) => /StorageOriginals/.test(resource)));
  assert.ok(resourcesFor(services, 'process-images', 's3:PutObject').every((resource) => /StorageVariants/.test(resource)));
  assert.ok(resourcesFor(services, 'process-images', 'sqs:ReceiveMessage').every((resource) => /ImagesQueue/.test(resource)));
});

test('the notifier may only consume its queue (and reach Postgres)', () => {
  const { services } = synth();
  assert.deepEqual(actionsOf(services, 'notify'), sorted([...CONSUMER, ...DATABASE]));
  assert.ok(resourcesFor(services, 'notify', 'sqs:ReceiveMessage').every((resource) => /NotifierQueue/.test(resource)));
});

test('the resync may scan, batch-read, put and delete read-model items, and nothing else', () => {
  const { services } = synth();
  assert.deepEqual(actionsOf(services, 'resync'),
    sorted([...DATABASE, 'dynamodb:BatchGetItem', 'dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:Scan']));
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
