/** One source of names: everything resources.json lists is declared from it, behind the prefix. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Match } from 'aws-cdk-lib/assertions';
import { parseResources } from '../lib/resources';
import { COMMANDS, PREFIX, resources, resourcesOf, synth, taskOf } from './synth';

test('the bus is named from resources.json', () => {
  synth().data.hasResourceProperties('AWS::Events::EventBus', { Name: PREFIX + resources.bus });
});

test('every rule routes the resources.json pattern to its queue, with a DLQ for undelivered events', () => {
  const { data } = synth();
  const queues = resourcesOf(data, 'AWS::SQS::Queue');
  const queueId = (name: string): string => {
    const found = Object.entries(queues).find(([, queue]) => queue.Properties!.QueueName === PREFIX + name);
    assert.ok(found, `queue ${name}`);
    return found[0];
  };
  assert.equal(Object.keys(resourcesOf(data, 'AWS::Events::Rule')).length, resources.queues.length);
  for (const spec of resources.queues) {
    data.hasResourceProperties('AWS::Events::Rule', {
      Name: PREFIX + spec.rule,
      EventBusName: Match.anyValue(),
      EventPattern: spec.detailTypes === undefined
        ? Match.exact({ source: [resources.eventSource] })
        : Match.exact({ source: [resources.eventSource], 'detail-type': [...spec.detailTypes] }),
      Targets: [Match.objectLike({
        Arn: { 'Fn::GetAtt': [queueId(spec.name), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId(spec.deadLetterQueue), 'Arn'] } },
      })],
    });
  }
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

test('the table and its GSIs are named and keyed from resources.json', () => {
  const { table } = resources;
  synth().data.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
    TableName: PREFIX + table.name,
    KeySchema: [{ AttributeName: table.partitionKey, KeyType: 'HASH' }],
    GlobalSecondaryIndexes: table.indexes.map((index) => Match.objectLike({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: index.partitionKey, KeyType: 'HASH' },
        { AttributeName: index.sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    })),
  });
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
      rule: `${role}-rule`, detail_types: null })) };
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
});
