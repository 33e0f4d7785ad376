/** What pages someone: dead letters, old messages (projection lag), 5xx. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Match } from 'aws-cdk-lib/assertions';
import { resources, resourcesOf, synth } from './synth';

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

test('every alarm notifies an encrypted topic that refuses plain HTTP', () => {
  const { services } = synth();
  const [topicId] = Object.keys(resourcesOf(services, 'AWS::SNS::Topic'));
  const scalingPolicies = Object.keys(resourcesOf(services, 'AWS::ApplicationAutoScaling::ScalingPolicy'));
  const paging = alarms().filter((alarm) => !scalingPolicies.includes(alarm.Properties!.AlarmActions[0].Ref));
  assert.equal(paging.length, resources.queues.length * 2 + 3);
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
