/**
 * What pages someone: dead letters, old messages (projection lag), set-aside events, 5xx, the
 * outbox, latency, image jobs, webhooks, uploads refused for memory, Aurora, DynamoDB and the
 * nightly resync; each alarm names a runbook section that README.md has.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { QUARANTINED_PATTERN, RESYNC_FINISHED_PATTERN, RUNBOOK } from '../lib/alarms';
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

test('5xx answers alarm per API target group (the uploads group too) and at the load balancer', () => {
  const targetAlarms = alarms().filter((alarm) => alarm.Properties!.MetricName === 'HTTPCode_Target_5XX_Count');
  assert.equal(targetAlarms.length, 3);
  assert.ok(targetAlarms.every((alarm) => JSON.stringify(alarm.Properties!.Dimensions).includes('TargetGroup')));
  assert.equal(alarms().filter((alarm) => alarm.Properties!.MetricName === 'HTTPCode_ELB_5XX_Count').length, 1);
});

test("an event the relay set aside is counted from its JSON log lines and alarms at once", () => {
  const { services } = synth();
  // The relay's log group: the one its task definition logs to.
  const relayLogs = taskOf(services, 'relay').container.LogConfiguration.Options['awslogs-group'];
  const filters = Object.values(resourcesOf(services, 'AWS::Logs::MetricFilter'))
    .filter((filter) => JSON.stringify(filter.Properties!.LogGroupName) === JSON.stringify(relayLogs));
  assert.equal(filters.length, 1);
  const [filter] = filters;
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
  // Per queue two; 5xx of three target groups and of the load balancer; quarantined events; the outbox,
  // two latencies, image jobs, webhook give-ups, uploads refused for memory, Aurora capacity and connections,
  // throttles, resync repairs.
  assert.equal(paging.length, resources.queues.length * 2 + 5 + 10);
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

/** The headings of README.md's "Operations" section. */
function operationsSections(): string[] {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Operations\n');
  assert.ok(start >= 0, 'README.md has an Operations section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^#{3,4} (.+)$/gm)].map((match) => match[1]!.trim());
}

/** The runbook section an alarm's (or a rule's) description names. */
function runbookOf(description: string): string {
  const section = /Runbook: infra-cdk\/README\.md, Operations, "([^"]+)"\./.exec(description)?.[1];
  assert.ok(section !== undefined, description);
  return section;
}

/** The one paging alarm whose properties' JSON matches `pattern`. */
function alarmWith(pattern: RegExp): Record<string, any> {
  const found = alarms().filter((alarm) => pattern.test(JSON.stringify(alarm.Properties)));
  assert.equal(found.length, 1, `${found.length} alarms match ${pattern}`);
  return found[0]!.Properties!;
}

test('every alarm and the resync rule name a runbook section that README.md has, and every section is named', () => {
  const { services } = synth();
  const sections = operationsSections();
  const scalingPolicies = Object.keys(resourcesOf(services, 'AWS::ApplicationAutoScaling::ScalingPolicy'));
  const named = alarms().filter((alarm) => !scalingPolicies.includes(alarm.Properties!.AlarmActions[0].Ref))
    .map((alarm) => runbookOf(alarm.Properties!.AlarmDescription));
  const rules = Object.values(resourcesOf(services, 'AWS::Events::Rule'));
  named.push(...rules.map((rule) => runbookOf(rule.Properties!.Description)));
  for (const section of named) {
    assert.ok(sections.includes(section), `README.md, Operations has no heading "${section}" (it has: ${sections.join('; ')})`);
  }
  assert.deepEqual([...new Set(named)].sort(), Object.values(RUNBOOK).sort());
});

test("the outbox alarms when its oldest unpublished event is over 2 minutes old (the relay is stalled)", () => {
  const alarm = alarmWith(/catalog_outbox_oldest_unpublished_seconds/);
  assert.equal(alarm.Namespace, `PhotoCatalog/${PREFIX.replace(/-$/, '')}`);
  assert.deepEqual(alarm.Dimensions, [{ Name: 'service', Value: 'write-api' }]);
  assert.equal(alarm.Statistic, 'Maximum');
  assert.equal(alarm.ComparisonOperator, 'GreaterThanThreshold');
  assert.equal(alarm.Threshold, 120);
});

test("each API's p99 latency alarms: the write API past 1 s, the read API past 0.5 s, never the uploads", () => {
  const { services } = synth();
  const groups = resourcesOf(services, 'AWS::ElasticLoadBalancingV2::TargetGroup');
  const latency = alarms().filter((alarm) => alarm.Properties!.MetricName === 'TargetResponseTime');
  assert.equal(latency.length, 2);
  const thresholdOf = (port: number) => {
    const [group] = Object.entries(groups).find(([id, resource]) => resource.Properties!.Port === port && !id.includes('Uploads'))!;
    const alarm = latency.find((candidate) => JSON.stringify(candidate.Properties!.Dimensions).includes(group))!;
    assert.equal(alarm.Properties!.ExtendedStatistic, 'p99');
    assert.equal(alarm.Properties!.EvaluationPeriods, 3);
    return alarm.Properties!.Threshold;
  };
  assert.equal(thresholdOf(8080), 1);
  assert.equal(thresholdOf(8081), 0.5);
  assert.ok(latency.every((alarm) => !JSON.stringify(alarm.Properties!.Dimensions).includes('Uploads')));
});

test('image jobs alarm when more than 10 % of at least 10 finished in 15 minutes failed', () => {
  const alarm = alarmWith(/catalog_image_jobs_total/);
  type Query = { Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Dimensions: unknown }; Period: number } };
  const queries = alarm.Metrics as Query[];
  const expression = queries.find((query) => query.Expression !== undefined)!.Expression!;
  assert.match(expression, />= 10,/);
  assert.match(expression, /100 \* FILL\(failed, 0\) \/ \(FILL\(ready, 0\) \+ FILL\(failed, 0\)\)/);
  for (const outcome of ['ready', 'failed']) {
    const stat = queries.find((query) => query.Id === outcome)!.MetricStat!;
    assert.equal(stat.Period, 900);
    assert.deepEqual(stat.Metric.Dimensions, [{ Name: 'outcome', Value: outcome }, { Name: 'service', Value: 'process-images' }]);
  }
  assert.equal(alarm.Threshold, 10);
  assert.equal(alarm.ComparisonOperator, 'GreaterThanThreshold');
});

test('five webhooks given up in an hour alarm', () => {
  const alarm = alarmWith(/catalog_webhook_give_ups_total/);
  assert.deepEqual(alarm.Dimensions, [{ Name: 'service', Value: 'notify' }]);
  assert.equal(alarm.Statistic, 'Sum');
  assert.equal(alarm.Period, 3600);
  assert.equal(alarm.Threshold, 5);
  assert.equal(alarm.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
});

test("any upload the write API refused for its memory budget in 10 minutes alarms; a seller's cap does not", () => {
  const { services } = synth();
  const [topicId] = Object.keys(resourcesOf(services, 'AWS::SNS::Topic'));
  const alarm = alarmWith(/catalog_uploads_refused_total/);
  assert.equal(alarm.Namespace, `PhotoCatalog/${PREFIX.replace(/-$/, '')}`);
  assert.deepEqual(alarm.Dimensions, [{ Name: 'reason', Value: 'memory' }, { Name: 'service', Value: 'write-api' }]);
  assert.equal(alarm.Statistic, 'Sum');
  assert.equal(alarm.Period, 600);
  assert.equal(alarm.EvaluationPeriods, 1);
  assert.equal(alarm.ComparisonOperator, 'GreaterThanThreshold');
  assert.equal(alarm.Threshold, 0);
  assert.equal(alarm.TreatMissingData, 'notBreaching');
  assert.deepEqual(alarm.AlarmActions, [{ Ref: topicId }]);
  assert.deepEqual(alarm.OKActions, [{ Ref: topicId }]);
  assert.match(alarm.AlarmDescription, /^The write API refused uploads: its upload memory budget was spent \(CATALOG_UPLOAD_MEMORY_MIB\)\. Add write API tasks; see docs\/OPERATIONS\.md#uploadmemoryspent\. /);
  assert.equal(runbookOf(alarm.AlarmDescription), RUNBOOK.uploadMemory);
  assert.ok(!alarms().some((candidate) => JSON.stringify(candidate.Properties!.Dimensions ?? []).includes('"seller"')));
});

test('Aurora alarms at its maximum capacity for 15 minutes and near its connection limit', () => {
  const capacity = alarmWith(/ACUUtilization/);
  assert.equal(capacity.Threshold, 95);
  assert.equal(capacity.EvaluationPeriods, 3);
  assert.match(JSON.stringify(capacity.Dimensions), /DBClusterIdentifier/);
  const connections = alarmWith(/DatabaseConnections/);
  assert.equal(connections.Threshold, 600);
  assert.equal(connections.Statistic, 'Maximum');
});

test('DynamoDB throttling the read model (reads or writes) alarms after 10 minutes', () => {
  const alarm = alarmWith(/ReadThrottleEvents/);
  const metrics = (alarm.Metrics as { MetricStat?: { Metric: { MetricName: string } } }[])
    .flatMap((query) => (query.MetricStat === undefined ? [] : [query.MetricStat.Metric.MetricName])).sort();
  assert.deepEqual(metrics, ['ReadThrottleEvents', 'WriteThrottleEvents']);
  assert.equal(alarm.Threshold, 1);
  assert.equal(alarm.EvaluationPeriods, 2);
});

test('a resync task that stops with a non-zero exit code, or never starts, notifies the alarm topic', () => {
  const { services } = synth();
  const [topicId] = Object.keys(resourcesOf(services, 'AWS::SNS::Topic'));
  const rules = Object.values(resourcesOf(services, 'AWS::Events::Rule'));
  assert.equal(rules.length, 1);
  const rule = rules[0]!.Properties!;
  const pattern = rule.EventPattern;
  assert.deepEqual(pattern.source, ['aws.ecs']);
  assert.deepEqual(pattern['detail-type'], ['ECS Task State Change']);
  assert.deepEqual(pattern.detail.lastStatus, ['STOPPED']);
  assert.deepEqual(pattern.detail.$or, [
    { containers: { exitCode: [{ 'anything-but': 0 }] } },
    { stopCode: ['TaskFailedToStart'] },
  ]);
  // Tasks of the resync's family (any revision), on the catalog's cluster.
  const family = taskOf(services, 'resync').properties.Family as string;
  assert.match(JSON.stringify(pattern.detail.taskDefinitionArn), new RegExp(`:task-definition/${family}:"`));
  assert.deepEqual(pattern.detail.clusterArn, [{ 'Fn::GetAtt': [Object.keys(resourcesOf(services, 'AWS::ECS::Cluster'))[0], 'Arn'] }]);
  assert.deepEqual(rule.Targets.map((target: { Arn: unknown }) => target.Arn), [{ Ref: topicId }]);
  // EventBridge may publish to the topic and use its key.
  services.hasResourceProperties('AWS::KMS::Key', {
    KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({
      Principal: { Service: Match.arrayWith(['events.amazonaws.com']) }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
    })]) },
  });
});

test("the resync's summary line counts the photos it repaired; more than 5 alarms", () => {
  const { services } = synth();
  const resyncLogs = taskOf(services, 'resync').container.LogConfiguration.Options['awslogs-group'];
  const [filter] = Object.values(resourcesOf(services, 'AWS::Logs::MetricFilter'))
    .filter((candidate) => JSON.stringify(candidate.Properties!.LogGroupName) === JSON.stringify(resyncLogs));
  assert.equal(filter!.Properties!.FilterPattern, '{ $.fields.message = "resync finished" }');
  assert.deepEqual(filter!.Properties!.MetricTransformations, [{
    MetricNamespace: 'PhotoCatalog', MetricName: `${PREFIX}ResyncRepairedPhotos`, MetricValue: '$.fields.repaired',
  }]);
  const alarm = alarmWith(new RegExp(`"${PREFIX}ResyncRepairedPhotos"`));
  assert.equal(alarm.Statistic, 'Maximum');
  assert.equal(alarm.Threshold, 5);
  assert.equal(alarm.ComparisonOperator, 'GreaterThanThreshold');
  // `tracing::info!(checked, repaired, skipped, "resync finished")` in tracing-subscriber's JSON format.
  const line = { level: 'INFO', fields: { message: 'resync finished', checked: 1200, repaired: 7, skipped: 0 } };
  const match = /^\{ \$\.fields\.message = "([^"]+)" \}$/.exec(RESYNC_FINISHED_PATTERN.logPatternString);
  assert.equal(match?.[1], line.fields.message);
});
