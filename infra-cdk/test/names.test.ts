/** One source of names: everything resources.json lists is declared from it, behind the prefix. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { readFileSync } from 'node:fs';
import { parseResources, RESOURCES_FILE } from '../lib/resources';
import { COMMANDS, PREFIX, resources, resourcesOf, synth, taskOf } from './synth';

test('the bus is named from resources.json', () => {
  synth().data.hasResourceProperties('AWS::Events::EventBus', { Name: PREFIX + resources.bus });
});

/** The logical id of the queue named `name` in resources.json. */
function queueId(data: Template, name: string): string {
  const found = Object.entries(resourcesOf(data, 'AWS::SQS::Queue')).find(([, queue]) => queue.Properties!.QueueName === PREFIX + name);
  assert.ok(found, `queue ${name}`);
  return found[0];
}

test('every rule routes the resources.json pattern to its queue, with a DLQ for undelivered events', () => {
  const { data } = synth();
  // One rule per queue on the bus, and the upload events' rule on the default bus (below).
  assert.equal(Object.keys(resourcesOf(data, 'AWS::Events::Rule')).length, resources.queues.length + 1);
  const [busId] = Object.keys(resourcesOf(data, 'AWS::Events::EventBus'));
  for (const spec of resources.queues) {
    data.hasResourceProperties('AWS::Events::Rule', {
      Name: PREFIX + spec.rule,
      EventBusName: { Ref: busId },
      EventPattern: spec.detailTypes === undefined
        ? Match.exact({ source: [resources.eventSource] })
        : Match.exact({ source: [resources.eventSource], 'detail-type': [...spec.detailTypes] }),
      Targets: [Match.objectLike({
        Arn: { 'Fn::GetAtt': [queueId(data, spec.name), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId(data, spec.deadLetterQueue), 'Arn'] } },
      })],
    });
  }
});

test("S3's Object Created events of originals go from the default bus to the upload_events queue, with its DLQ", () => {
  const { data } = synth();
  const spec = resources.uploadEvents;
  // The image processor records these uploads; its role is granted what that takes.
  assert.equal(spec.queueRole, 'images');
  const target = resources.queues.find((queue) => queue.role === spec.queueRole)!;
  data.hasResourceProperties('AWS::Events::Rule', {
    Name: PREFIX + spec.rule,
    EventBusName: 'default',
    // The pattern `upload_pattern()` of the Rust resources builds.
    EventPattern: Match.exact({
      source: ['aws.s3'],
      'detail-type': ['Object Created'],
      detail: {
        bucket: { name: [PREFIX + resources.buckets.originals] },
        object: { key: [{ prefix: spec.keyPrefix }] },
      },
    }),
    Targets: [Match.objectLike({
      Arn: { 'Fn::GetAtt': [queueId(data, target.name), 'Arn'] },
      DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId(data, target.deadLetterQueue), 'Arn'] } },
      RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 },
    })],
  });
});

test('the upload events rule may send to its queue and that queue\'s DLQ, and only it (queue policies)', () => {
  const { data } = synth();
  const spec = resources.uploadEvents;
  const target = resources.queues.find((queue) => queue.role === spec.queueRole)!;
  const ruleId = Object.entries(resourcesOf(data, 'AWS::Events::Rule'))
    .find(([, rule]) => rule.Properties!.Name === PREFIX + spec.rule)![0];
  for (const name of [target.name, target.deadLetterQueue]) {
    data.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId(data, name) }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({
        Effect: 'Allow',
        Action: Match.anyValue(),
        Principal: { Service: 'events.amazonaws.com' },
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } },
      })]) },
    });
  }
  // No other queue admits it.
  const admitting = Object.values(resourcesOf(data, 'AWS::SQS::QueuePolicy'))
    .filter((policy) => JSON.stringify(policy.Properties!.PolicyDocument).includes(`"${ruleId}"`));
  assert.equal(admitting.length, 2);
});

test('every queue has a DLQ with maxReceiveCount and visibility timeout from resources.json', () => {
  const { data } = synth();
  const queues = resourcesOf(data, 'AWS::SQS::Queue');
  assert.equal(Object.keys(queues).length, resources.queues.length * 2);
  for (const spec of resources.queues) {
    const [dlqId] = Object.entries(queues).find(([, queue]) => queue.Properties!.QueueName === PREFIX + spec.deadLetterQueue)!;
    data.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: PREFIX + spec.name,
      VisibilityTimeout: spec.visibilityTimeoutSecs,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: spec.maxReceiveCount },
    });
  }
});

test('the table, the previous table and their GSIs are named and keyed from resources.json', () => {
  const { data } = synth();
  // This change's resources.json lists both; the rebuild's tests depend on it.
  assert.ok(resources.previousTable !== undefined, 'resources.json lists a previous_table');
  const tables = [resources.table, resources.previousTable];
  assert.equal(Object.keys(resourcesOf(data, 'AWS::DynamoDB::GlobalTable')).length, tables.length);
  for (const table of tables) {
    data.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TableName: PREFIX + table.name,
      KeySchema: [{ AttributeName: table.partitionKey, KeyType: 'HASH' }],
      // Exactly these indexes, in this order: a stray or missing one would change the table.
      GlobalSecondaryIndexes: Match.exact(table.indexes.map((index) => ({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.partitionKey, KeyType: 'HASH' },
          { AttributeName: index.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      }))),
    });
  }
});

test('the new table has the new layout: a gallery ranked by gallery_rank, inventory_status and product indexes', () => {
  const keys = (table: typeof resources.table) => table.indexes.map((index) => `${index.name}:${index.partitionKey}/${index.sortKey}`);
  assert.deepEqual(keys(resources.table), ['gallery:gallery_key/gallery_rank', 'inventory:inventory_key/listed_key',
    'inventory_status:status_key/listed_key', 'product:product_key/listed_key']);
  assert.deepEqual(keys(resources.previousTable!), ['gallery:gallery_key/listed_key', 'inventory:inventory_key/listed_key']);
  assert.equal(resources.table.name, 'catalog-photos-v2');
  assert.equal(resources.previousTable!.name, 'catalog-photos');
});

test('the buckets are named from resources.json', () => {
  const { data } = synth();
  data.hasResourceProperties('AWS::S3::Bucket', { BucketName: PREFIX + resources.buckets.originals });
  data.hasResourceProperties('AWS::S3::Bucket', { BucketName: PREFIX + resources.buckets.variants });
});

test("the seller page's bucket is named from resources.json (it lives with its distribution)", () => {
  assert.equal(resources.buckets.sellerPage, 'catalog-seller-page');
  synth().services.hasResourceProperties('AWS::S3::Bucket', { BucketName: PREFIX + resources.buckets.sellerPage });
});

test('every process gets the resource prefix and JSON logs', () => {
  const { services } = synth();
  for (const command of COMMANDS) {
    const environment = taskOf(services, command).container.Environment as { Name: string; Value: string }[];
    assert.ok(environment.some((variable) => variable.Name === 'CATALOG_RESOURCE_PREFIX' && variable.Value === PREFIX), command);
    assert.ok(environment.some((variable) => variable.Name === 'CATALOG_LOG_FORMAT' && variable.Value === 'json'), command);
  }
});

test('a malformed resources.json is refused with the field that is wrong', () => {
  const good = { bus: 'b', event_source: 's',
    buckets: { originals: 'o', variants: 'v', seller_page: 'p', unconfirmed_upload_tag: { key: 'k', value: 'v', expire_after_days: 3 } },
    table: { name: 't', partition_key: 'k', indexes: [] }, queues: ['projector', 'images', 'notifier'].map((role) => ({
      role, name: role, dead_letter_queue: `${role}-dlq`, max_receive_count: 3, visibility_timeout_secs: 30,
      rule: `${role}-rule`, detail_types: null })),
    upload_events: { rule: 'u', queue_role: 'images', key_prefix: 'originals/' } };
  assert.equal(parseResources(JSON.stringify(good)).queues.length, 3);
  const bad = structuredClone(good);
  bad.queues[1]!.max_receive_count = 0;
  assert.throws(() => parseResources(JSON.stringify(bad)), /queues\[1\]\.max_receive_count/);
  assert.throws(() => parseResources(JSON.stringify({ ...good, queues: good.queues.slice(1) })), /role projector/);
  const untagged = structuredClone(good);
  untagged.buckets.unconfirmed_upload_tag.expire_after_days = -1;
  assert.throws(() => parseResources(JSON.stringify(untagged)), /unconfirmed_upload_tag\.expire_after_days/);
  const { seller_page: _, ...pageless } = good.buckets;
  assert.throws(() => parseResources(JSON.stringify({ ...good, buckets: pageless })), /buckets\.seller_page/);
  assert.deepEqual(parseResources(JSON.stringify(good)).uploadEvents, { rule: 'u', queueRole: 'images', keyPrefix: 'originals/' });
  const { upload_events: __, ...uploadless } = good;
  assert.throws(() => parseResources(JSON.stringify(uploadless)), /upload_events: expected an object/);
  const strayRole = structuredClone(good);
  strayRole.upload_events.queue_role = 'uploads';
  assert.throws(() => parseResources(JSON.stringify(strayRole)), /upload_events\.queue_role: expected one of/);
  const noPrefix = structuredClone(good);
  noPrefix.upload_events.key_prefix = '';
  assert.throws(() => parseResources(JSON.stringify(noPrefix)), /upload_events\.key_prefix/);
});

test('previous_table is optional (absent or null), of the shape of table, and never the same table', () => {
  const raw = (previous: unknown): string => {
    const file = JSON.parse(readFileSync(RESOURCES_FILE, 'utf8')) as Record<string, unknown>;
    if (previous === undefined) {
      delete file['previous_table'];
    } else {
      file['previous_table'] = previous;
    }
    return JSON.stringify(file);
  };
  assert.equal(parseResources(raw(undefined)).previousTable, undefined);
  assert.equal(parseResources(raw(null)).previousTable, undefined);
  const previous = { name: 'old', partition_key: 'photo_id', indexes: [{ name: 'g', partition_key: 'a', sort_key: 'b' }] };
  assert.deepEqual(parseResources(raw(previous)).previousTable,
    { name: 'old', partitionKey: 'photo_id', indexes: [{ name: 'g', partitionKey: 'a', sortKey: 'b' }] });
  assert.throws(() => parseResources(raw({ ...previous, indexes: [{ name: 'g', partition_key: 'a' }] })),
    /previous_table\.indexes\[0\]\.sort_key/);
  assert.throws(() => parseResources(raw({ ...previous, name: parseResources(raw(undefined)).table.name })),
    /previous_table\.name: must differ/);
});
