/** What pages someone: dead letters, old messages (projection lag), set-aside events, 5xx. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Match } from 'aws-cdk-lib/assertions';
import { QUARANTINED_PATTERN } from '../lib/alarms';
import { PREFIX, resources, resourcesOf, synth, taskOf } from './synth';

const alarms = () => Object.values(resourcesOf(synth().services, 'AWS::CloudWatch::Alarm'));

test('every dead-letter queue alarms as soon as it holds a message', () => {
  const dlqAlarms = alarms().filter((alarm) => alarm.Properties!.MetricName === 'ApproximateNumberOfMessagesVisible'
    && /Dlq/.test(JSON.stringify(alarm.Properties!.Dimensions)));
  assert.equal(dlqAlarms.length, resources.queues.length);
  for (const alarm of dlqAlarms) {
    assert.equal(alarm.Properties!.Threshold, 0);
    assert.equal(alarm.Properties!.ComparisonOperator, 'GreaterThanThreshold');
  }
});

test("every queue alarms on its oldest message's age; the projector's is the projection lag", () => {
  const ageAlarms = alarms().filter((alarm) => alarm.Properties!.MetricName === 'ApproximateAgeOfOldestMessage');
  assert.equal(ageAlarms.length, resources.queues.length);
  const lag = ageAlarms.find((alarm) => /ProjectorQueue/.test(JSON.stringify(alarm.Properties!.Dimensions)))!;
  assert.match(lag.Properties!.AlarmDescription, /Projection lag/);
  assert.equal(lag.Properties!.Threshold, 120);
});

test('5xx answers alarm per API target group and at the load balancer', () => {
  const targetAlarms = alarms().filter((alarm) => alarm.Properties!.MetricName === 'HTTPCode_Target_5XX_Count');
  assert.equal(targetAlarms.length, 2);
  assert.ok(targetAlarms.every((alarm) => JSON.stringify(alarm.Properties!.Dimensions).includes('TargetGroup')));
  assert.equal(alarms().filter((alarm) => alarm.Properties!.MetricName === 'HTTPCode_ELB_5XX_Count').length, 1);
});

test("an event the relay set aside is counted from its JSON log lines and alarms at once", () => {
  const { services } = synth();
  const filters = Object.values(resourcesOf(services, 'AWS::Logs::MetricFilter'));
  assert.equal(filters.length, 1);
  const [filter] = filters;
  // The relay's log group: the one its task definition logs to.
  const relayLogs = taskOf(services, 'relay').container.LogConfiguration.Options['awslogs-group'];
  assert.deepEqual(filter!.Properties!.LogGroupName, relayLogs);
  assert.equal(filter!.Properties!.FilterPattern, '{ $.fields.quarantined IS TRUE }');
  assert.deepEqual(filter!.Properties!.MetricTransformations, [{
    MetricNamespace: 'PhotoCatalog', MetricName: `${PREFIX}QuarantinedEvents`, MetricValue: '1',
  }]);
  const [topicId] = Object.keys(resourcesOf(services, 'AWS::SNS::Topic'));
  services.hasResourceProperties('AWS::CloudWatch::Alarm', {
    Namespace: 'PhotoCatalog',
    MetricName: `${PREFIX}QuarantinedEvents`,
    Statistic: 'Sum',
    Period: 300,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    Threshold: 1,
    EvaluationPeriods: 1,
    TreatMissingData: 'notBreaching',
    AlarmActions: [{ Ref: topicId }],
    OKActions: [{ Ref: topicId }],
  });
});

test("the quarantine filter selects the relay's JSON log line of a set-aside event, and only it", () => {
  // `tracing::error!(quarantined = true, photo = %id, sequence = n, reason = %r, "an event was set aside: ...")`
  // as tracing-subscriber's default JSON format writes it (fields nested under "fields", bools as booleans).
  const line = {
    timestamp: '2025-01-01T00:00:00.000000Z',
    level: 'ERROR',
    fields: {
      message: 'an event was set aside: it can never be published',
      quarantined: true,
      photo: '0195f6a2-7c1e-7d3a-9a7e-3f1c2b4d5e6f',
      sequence: 7,
      reason: 'the event is larger than EventBridge accepts',
    },
    target: 'catalog_write_side::relay',
  };
  const pattern = QUARANTINED_PATTERN.logPatternString;
  const path = /^\{ \$\.([\w.]+) IS TRUE \}$/.exec(pattern)?.[1];
  assert.ok(path !== undefined, pattern);
  const at = (value: unknown): unknown => path.split('.').reduce<unknown>(
    (node, key) => (node as Record<string, unknown> | undefined)?.[key], value);
  assert.equal(at(line), true);
  assert.notEqual(at({ ...line, fields: { message: 'published', count: 3 } }), true);
  assert.notEqual(at({ ...line, fields: { ...line.fields, quarantined: 'true' } }), true, 'IS TRUE wants a JSON boolean');
});

test('every alarm notifies an encrypted topic that refuses plain HTTP', () => {
  const { services } = synth();
  const [topicId] = Object.keys(resourcesOf(services, 'AWS::SNS::Topic'));
  const scalingPolicies = Object.keys(resourcesOf(services, 'AWS::ApplicationAutoScaling::ScalingPolicy'));
  const paging = alarms().filter((alarm) => !scalingPolicies.includes(alarm.Properties!.AlarmActions[0].Ref));
  assert.equal(paging.length, resources.queues.length * 2 + 4);
  for (const alarm of paging) {
    assert.deepEqual(alarm.Properties!.AlarmActions, [{ Ref: topicId }]);
  }
  services.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  services.hasResourceProperties('AWS::SNS::TopicPolicy', {
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({
      Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    })]) },
  });
  services.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
});
