/** The processes, the load balancer, scaling and the schedule: the stateless stack. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Match } from 'aws-cdk-lib/assertions';
import { API_MAX_TASKS, SELLER_REQUESTS_PER_SEC } from '../lib/services';
import {
  COMMANDS, DEVELOPMENT, environmentOf, IMAGE_TAG, logicalIdOf, POSTGRES_COMMANDS, resourcesFor, resourcesOf, synth, taskOf, WITH_CERTIFICATE,
} from './synth';

test('every process runs the one image, from ECR, with the tag from context', () => {
  const { services } = synth();
  for (const command of COMMANDS) {
    const { container } = taskOf(services, command);
    assert.match(JSON.stringify(container.Image), new RegExp(`/photo-catalog:${IMAGE_TAG}"`), command);
    assert.deepEqual(container.EntryPoint, ['catalog']);
  }
});

test("a seller's requests are limited per write API task to its share of the fleet-wide rate", () => {
  const { services } = synth();
  const perTask = Number(JSON.parse(environmentOf(services, 'write-api')['CATALOG_SELLER_RATE_PER_SEC'] ?? '0'));
  assert.equal(perTask, Math.floor(SELLER_REQUESTS_PER_SEC / API_MAX_TASKS));
  const scaling = services.findResources('AWS::ApplicationAutoScaling::ScalableTarget');
  const writeApiMax = Object.values(scaling).map((target) => target.Properties.MaxCapacity as number);
  assert.ok(writeApiMax.length > 0);
  // At the most tasks any API runs, the seller's whole rate stays within the fleet-wide figure.
  assert.ok(perTask * API_MAX_TASKS <= SELLER_REQUESTS_PER_SEC);
  assert.ok(writeApiMax.includes(API_MAX_TASKS));
});

test('every Postgres process reads the cluster secret itself (no password in the task) and requires TLS', () => {
  const { services } = synth();
  for (const command of POSTGRES_COMMANDS) {
    const { container } = taskOf(services, command);
    const environment = Object.fromEntries((container.Environment as { Name: string; Value: unknown }[])
      .map((variable) => [variable.Name, JSON.stringify(variable.Value)]));
    assert.match(environment['CATALOG_DATABASE_SECRET'] ?? '', /DatabaseClusterSecretAttachment/, command);
    assert.equal(environment['PGSSLMODE'], '"require"', command);
    assert.equal(environment['CATALOG_DATABASE_URL'], undefined, command);
    const secrets = ((container.Secrets ?? []) as { Name: string }[]).map((secret) => secret.Name);
    assert.ok(!secrets.some((name) => name.startsWith('PG')), `${command}: ${secrets}`);
    assert.deepEqual(resourcesFor(services, command, 'secretsmanager:GetSecretValue').map((resource) =>
      /DatabaseClusterSecretAttachment/.test(resource)), [true], command);
  }
});

test('the APIs get their listen address; the read API and notifier the CDN URL', () => {
  const { services } = synth();
  assert.equal(environmentOf(services, 'write-api')['CATALOG_WRITE_ADDR'], '"0.0.0.0:8080"');
  assert.equal(environmentOf(services, 'read-api')['CATALOG_READ_ADDR'], '"0.0.0.0:8081"');
  // The read API limits anonymous callers by the address the API distribution passes on.
  assert.equal(environmentOf(services, 'read-api')['CATALOG_CLIENT_IP_HEADER'], '"X-Catalog-Viewer-Ip"');
  for (const command of ['read-api', 'notify']) {
    assert.match(environmentOf(services, command)['CATALOG_VARIANTS_BASE_URL'] ?? '', /https:\/\/.*VariantsCdn.*DomainName/, command);
  }
});

test("the image processor gets the variants distribution's id, to invalidate a deleted photo's variants", () => {
  const { services } = synth();
  assert.match(environmentOf(services, 'process-images')['CATALOG_CDN_DISTRIBUTION_ID'] ?? '',
    /^\{"Fn::ImportValue":"CatalogData:ExportsOutputRefStorageVariantsCdn[^"]*"\}$/);
  for (const command of ['write-api', 'read-api', 'relay', 'project', 'notify', 'resync']) {
    assert.equal(environmentOf(services, command)['CATALOG_CDN_DISTRIBUTION_ID'], undefined, command);
  }
});

test('one-off commands (catalog redrive) have what aws ecs run-task needs as outputs', () => {
  const { data, services } = synth();
  const outputs = services.toJSON().Outputs as Record<string, { Value: unknown }>;
  assert.deepEqual(outputs['OperatorTaskDefinition']!.Value, taskOf(services, 'resync').properties.Family);
  assert.deepEqual(outputs['ClusterName']!.Value, { Ref: logicalIdOf(services, 'AWS::ECS::Cluster') });
  assert.deepEqual(outputs['OperatorSecurityGroup']!.Value,
    { 'Fn::GetAtt': [logicalIdOf(services, 'AWS::EC2::SecurityGroup', /"catalog resync"/), 'GroupId'] });
  // The subnets every task runs in, from the stack that owns them.
  const subnets = (data.toJSON().Outputs as Record<string, { Value: unknown }>)['TaskSubnets']!.Value;
  const appSubnets = Object.keys(resourcesOf(data, 'AWS::EC2::Subnet')).filter((id) => id.startsWith('NetworkVpcapp'));
  assert.equal(appSubnets.length, 2);
  assert.deepEqual(subnets, { 'Fn::Join': ['', [{ Ref: appSubnets[0] }, ',', { Ref: appSubnets[1] }]] });
});

test("write-side one-off commands (catalog product transfer) run on the write API's task definition: its outputs", () => {
  const { services } = synth();
  const outputs = services.toJSON().Outputs as Record<string, { Value: unknown }>;
  assert.deepEqual(outputs['WriteApiTaskDefinition']!.Value, taskOf(services, 'write-api').properties.Family);
  assert.deepEqual(outputs['WriteApiSecurityGroup']!.Value,
    { 'Fn::GetAtt': [logicalIdOf(services, 'AWS::EC2::SecurityGroup', /"catalog write-api"/), 'GroupId'] });
  // The entry point is catalog, so an override of the command is the subcommand and its arguments.
  assert.deepEqual(taskOf(services, 'write-api').container.EntryPoint, ['catalog']);
});

test('no process is given a secret value: no container secrets at all', () => {
  const { services } = synth();
  for (const command of COMMANDS) {
    assert.equal(taskOf(services, command).container.Secrets, undefined, command);
  }
});

test('both APIs sit behind the load balancer, health-checked on /readyz', () => {
  const { services } = synth();
  for (const port of [8080, 8081]) {
    services.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: port, TargetType: 'ip', HealthCheckPath: '/readyz', Matcher: { HttpCode: '200' },
    });
  }
  services.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
    Scheme: 'internet-facing',
    LoadBalancerAttributes: Match.arrayWith([{ Key: 'access_logs.s3.enabled', Value: 'true' }]),
  });
});

/** The logical id of the API's own target group on `port` (not the write API's uploads group). */
function targetGroup(port: number, extra: Record<string, string> = {}): string {
  const groups = resourcesOf(synth(extra).services, 'AWS::ElasticLoadBalancingV2::TargetGroup');
  return Object.entries(groups).find(([id, group]) => group.Properties!.Port === port && !id.includes('Uploads'))![0];
}

/** The logical id of the write API's target group of streamed uploads. */
function uploadsTargetGroup(): string {
  const ids = Object.keys(resourcesOf(synth().services, 'AWS::ElasticLoadBalancingV2::TargetGroup'))
    .filter((id) => id.includes('Uploads'));
  assert.equal(ids.length, 1);
  return ids[0]!;
}

/** The condition every forwarding rule carries: the header CloudFront adds, with the secret's value. */
const fromCloudFront = Match.objectLike({
  Field: 'http-header',
  HttpHeaderConfig: { HttpHeaderName: 'X-Catalog-Origin-Verify', Values: [{ 'Fn::Join': ['', [
    '{{resolve:secretsmanager:', { Ref: Match.stringLikeRegexp('^LoadBalancerOriginVerify') }, ':SecretString:::}}',
  ]] }] },
});

test('writes go to the write API', () => {
  synth().services.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
    Conditions: [fromCloudFront, { Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['POST', 'PUT', 'PATCH', 'DELETE'] } }],
    Actions: [Match.objectLike({ TargetGroupArn: { Ref: targetGroup(8080) } })],
  });
});

test("a photo's history goes to the write API", () => {
  synth().services.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
    Conditions: [
      fromCloudFront,
      { Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['GET'] } },
      { Field: 'path-pattern', PathPatternConfig: { Values: ['/v1/photos/*/history'] } },
    ],
    Actions: [Match.objectLike({ TargetGroupArn: { Ref: targetGroup(8080) } })],
  });
});

test("streamed uploads go to the write API through a target group of their own, before the other writes", () => {
  const { services } = synth();
  services.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
    Conditions: [
      fromCloudFront,
      { Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['POST'] } },
      { Field: 'path-pattern', PathPatternConfig: { Values: ['/v1/photos/upload'] } },
    ],
    Actions: [Match.objectLike({ TargetGroupArn: { Ref: uploadsTargetGroup() } })],
  });
  // The same service and port as the write API's own group, health-checked the same way.
  services.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { Port: 8080, HealthCheckPath: '/readyz' });
  const writeApi = Object.values(resourcesOf(services, 'AWS::ECS::Service'))
    .find((service) => JSON.stringify(service.Properties!.TaskDefinition).includes(taskOf(services, 'write-api').logicalId))!;
  assert.deepEqual((writeApi.Properties!.LoadBalancers as { TargetGroupArn: { Ref: string } }[])
    .map((balancer) => balancer.TargetGroupArn.Ref).sort(), [targetGroup(8080), uploadsTargetGroup()].sort());
  const rules = Object.values(resourcesOf(services, 'AWS::ElasticLoadBalancingV2::ListenerRule'));
  const priority = (group: string) => rules.filter((rule) => JSON.stringify(rule.Properties!.Actions).includes(group))
    .map((rule) => rule.Properties!.Priority as number);
  const [uploads] = priority(uploadsTargetGroup());
  const writes = rules.find((rule) => JSON.stringify(rule.Properties!.Conditions).includes('"DELETE"')
    && !JSON.stringify(rule.Properties!.Conditions).includes('Access-Control-Request-Method'))!;
  assert.ok(uploads! < (writes.Properties!.Priority as number));
});

test('CORS preflights of writes go to the write API', () => {
  synth().services.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
    Conditions: [fromCloudFront, {
      Field: 'http-header',
      HttpHeaderConfig: { HttpHeaderName: 'Access-Control-Request-Method', Values: ['POST', 'PUT', 'PATCH', 'DELETE'] },
    }],
    Actions: [Match.objectLike({ TargetGroupArn: { Ref: targetGroup(8080) } })],
  });
});

test("CORS preflights of a photo's history go to the write API", () => {
  synth().services.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
    Conditions: [
      fromCloudFront,
      { Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['OPTIONS'] } },
      { Field: 'path-pattern', PathPatternConfig: { Values: ['/v1/photos/*/history'] } },
    ],
    Actions: [Match.objectLike({ TargetGroupArn: { Ref: targetGroup(8080) } })],
  });
});

test('every other request from CloudFront goes to the read API, after the write rules', () => {
  const rules = Object.values(resourcesOf(synth().services, 'AWS::ElasticLoadBalancingV2::ListenerRule'));
  const reads = rules.filter((rule) => JSON.stringify(rule.Properties!.Actions).includes(targetGroup(8081)));
  assert.equal(reads.length, 1);
  assert.equal(reads[0]!.Properties!.Conditions.length, 1, 'the origin header is its only condition');
  const writePriorities = rules.filter((rule) => JSON.stringify(rule.Properties!.Actions).includes(targetGroup(8080)))
    .map((rule) => rule.Properties!.Priority as number);
  assert.equal(writePriorities.length, 4);
  assert.ok(writePriorities.every((priority) => priority < reads[0]!.Properties!.Priority), `${writePriorities}`);
});

for (const [label, extra] of [['HTTP only, development', DEVELOPMENT], ['with a certificate', WITH_CERTIFICATE]] as const) {
  test(`every forwarding rule requires the header CloudFront adds, within five condition values (${label})`, () => {
    const forwarding = Object.values(resourcesOf(synth(extra).services, 'AWS::ElasticLoadBalancingV2::ListenerRule'))
      .filter((rule) => JSON.stringify(rule.Properties!.Actions).includes('forward'));
    assert.equal(forwarding.length, 6);
    for (const rule of forwarding) {
      const conditions = rule.Properties!.Conditions as Record<string, unknown>[];
      assert.ok(fromCloudFront.test(conditions[0]).isSuccess, JSON.stringify(conditions));
      const values = conditions.flatMap((condition) => Object.values(condition)
        .flatMap((config) => (typeof config === 'object' && config !== null ? (config as { Values: unknown[] }).Values : [])));
      assert.ok(values.length <= 5, JSON.stringify(conditions));
    }
  });
}

test('in development (HTTP only) a request without that header is refused with 403', () => {
  synth(DEVELOPMENT).services.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
    Port: 80, DefaultActions: [Match.objectLike({ Type: 'fixed-response', FixedResponseConfig: Match.objectLike({ StatusCode: '403' }) })],
  });
});

test('the origin header value is a generated secret of 64 letters and digits', () => {
  synth().services.hasResourceProperties('AWS::SecretsManager::Secret', {
    Description: Match.stringLikeRegexp('X-Catalog-Origin-Verify'),
    GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true },
  });
});

test('/metrics answers 404 to everyone', () => {
  synth().services.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
    Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/metrics'] } }],
    Actions: [Match.objectLike({ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404' } })],
  });
});

test('with a certificate the load balancer serves HTTPS and refuses requests without the header', () => {
  synth(WITH_CERTIFICATE).services.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
    Port: 443, Protocol: 'HTTPS', Certificates: [{ CertificateArn: WITH_CERTIFICATE['certificateArn'] }],
    DefaultActions: [Match.objectLike({ Type: 'fixed-response', FixedResponseConfig: Match.objectLike({ StatusCode: '403' }) })],
  });
});

test('with a certificate plain HTTP only redirects to HTTPS', () => {
  synth(WITH_CERTIFICATE).services.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
    Port: 80, DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Port: '443', Protocol: 'HTTPS' }) })],
  });
});

test('queue consumers scale on their backlog, the image processor from zero', () => {
  const { services } = synth();
  const targets = resourcesOf(services, 'AWS::ApplicationAutoScaling::ScalableTarget');
  const bounds = Object.values(targets).map((target) => [target.Properties!.MinCapacity, target.Properties!.MaxCapacity]);
  assert.deepEqual(bounds.sort(), [[0, 10], [1, 4], [1, 4], [2, 8], [2, 8]].sort());
  // Step-scaling alarms (an upper and a lower per consumer), by the queue they watch.
  const scaling = Object.values(resourcesOf(services, 'AWS::CloudWatch::Alarm'))
    .filter((alarm) => JSON.stringify(alarm.Properties!.AlarmActions ?? []).includes('Backlog'))
    .map((alarm) => JSON.stringify(alarm.Properties));
  assert.equal(scaling.length, 6);
  for (const queue of ['ProjectorQueue', 'ImagesQueue']) {
    const alarms = scaling.filter((alarm) => alarm.includes(queue));
    assert.equal(alarms.length, 2, queue);
    assert.ok(alarms.every((alarm) => alarm.includes('ApproximateNumberOfMessagesNotVisible')), queue);
  }
  // Only the image processor drains a dead-letter queue (its own).
  assert.ok(scaling.filter((alarm) => alarm.includes('Dlq')).every((alarm) => alarm.includes('ImagesQueue')));
  // The notifier's hidden messages wait for a retry: it scales on visible ones only.
  const notifier = scaling.filter((alarm) => alarm.includes('NotifierQueue'));
  assert.equal(notifier.length, 2);
  assert.ok(notifier.every((alarm) => alarm.includes('ApproximateNumberOfMessagesVisible')
    && !alarm.includes('ApproximateNumberOfMessagesNotVisible')));
  const processor = Object.values(resourcesOf(services, 'AWS::ECS::Service'))
    .find((service) => JSON.stringify(service.Properties!.TaskDefinition).includes(taskOf(services, 'process-images').logicalId))!;
  assert.equal(processor.Properties!.DesiredCount, 0);
  assert.equal(taskOf(services, 'process-images').properties.Cpu, '2048');
});

test("the image processor also counts its dead-letter queue's visible messages, so a dead letter alone starts a task", () => {
  const { services } = synth();
  const scaling = Object.values(resourcesOf(services, 'AWS::CloudWatch::Alarm'))
    .filter((alarm) => JSON.stringify(alarm.Properties!.AlarmActions ?? []).includes('Backlog')
      && JSON.stringify(alarm.Properties!.Metrics ?? []).includes('ImagesQueue'));
  assert.equal(scaling.length, 2, 'an upper and a lower step alarm');
  for (const alarm of scaling) {
    type Query = { Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Dimensions: unknown } } };
    const queries = alarm.Properties!.Metrics as Query[];
    assert.deepEqual(queries.filter((query) => query.Expression !== undefined).map((query) => query.Expression),
      ['visible + inflight + deadLetters']);
    const deadLetters = queries.find((query) => query.Id === 'deadLetters')!.MetricStat!.Metric;
    assert.equal(deadLetters.MetricName, 'ApproximateNumberOfMessagesVisible');
    assert.match(JSON.stringify(deadLetters.Dimensions), /MessagingImagesDlq/);
    // A dead letter hidden for its retry's backoff needs no task: the dead-letter queue's in-flight ones do not count.
    const counted = queries.filter((query) => query.MetricStat !== undefined).map((query) => JSON.stringify(query.MetricStat));
    assert.ok(counted.filter((metric) => metric.includes('Dlq')).every((metric) => !metric.includes('NotVisible')));
  }
  // Any message counted starts the first task.
  const scaleOut = scaling.filter((alarm) => alarm.Properties!.ComparisonOperator === 'GreaterThanOrEqualToThreshold');
  assert.deepEqual(scaleOut.map((alarm) => alarm.Properties!.Threshold), [1]);
});

test('the nightly resync runs as a Fargate task from EventBridge Scheduler', () => {
  const { services } = synth();
  services.hasResourceProperties('AWS::Scheduler::Schedule', {
    ScheduleExpression: 'cron(15 2 * * ? *)',
    Target: Match.objectLike({
      EcsParameters: Match.objectLike({
        LaunchType: 'FARGATE',
        TaskDefinitionArn: { Ref: taskOf(services, 'resync').logicalId },
        NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
      }),
    }),
  });
});
