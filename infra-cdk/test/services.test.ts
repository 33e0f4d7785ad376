/** The processes, the load balancer, scaling and the schedule: the stateless stack. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Match } from 'aws-cdk-lib/assertions';
import { COMMANDS, IMAGE_TAG, POSTGRES_COMMANDS, resourcesFor, resourcesOf, synth, taskOf } from './synth';

test('every process runs the one image, from ECR, with the tag from context', () => {
  const { services } = synth();
  for (const command of COMMANDS) {
    const { container } = taskOf(services, command);
    assert.match(JSON.stringify(container.Image), new RegExp(`/photo-catalog:${IMAGE_TAG}"`), command);
    assert.deepEqual(container.EntryPoint, ['catalog']);
  }
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

test('the APIs get their listen address and JWT secret; the read API and notifier the CDN URL', () => {
  const { services } = synth();
  const env = (command: string): Record<string, string> => Object.fromEntries(
    (taskOf(services, command).container.Environment as { Name: string; Value: unknown }[])
      .map((variable) => [variable.Name, JSON.stringify(variable.Value)]));
  const secretNames = (command: string): string[] =>
    (taskOf(services, command).container.Secrets as { Name: string }[]).map((secret) => secret.Name);
  assert.equal(env('write-api')['CATALOG_WRITE_ADDR'], '"0.0.0.0:8080"');
  assert.equal(env('read-api')['CATALOG_READ_ADDR'], '"0.0.0.0:8081"');
  assert.ok(secretNames('write-api').includes('CATALOG_JWT_SECRET'));
  assert.ok(secretNames('read-api').includes('CATALOG_JWT_SECRET'));
  assert.ok(secretNames('notify').includes('CATALOG_WEBHOOK_SECRET'));
  for (const command of ['read-api', 'notify']) {
    assert.match(env(command)['CATALOG_VARIANTS_BASE_URL'] ?? '', /https:\/\/.*VariantsCdn.*DomainName/, command);
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

test('writes and history go to the write API, every other GET to the read API', () => {
  const { services } = synth();
  const groups = resourcesOf(services, 'AWS::ElasticLoadBalancingV2::TargetGroup');
  const groupOf = (port: number): string => Object.entries(groups).find(([, group]) => group.Properties!.Port === port)![0];
  const write = { Ref: groupOf(8080) };
  services.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
    Port: 80, DefaultActions: [Match.objectLike({ TargetGroupArn: { Ref: groupOf(8081) } })],
  });
  services.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
    Conditions: Match.arrayWith([{ Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['POST', 'PUT', 'PATCH', 'DELETE'] } }]),
    Actions: [Match.objectLike({ TargetGroupArn: write })],
  });
  services.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
    Conditions: Match.arrayWith([
      { Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['GET'] } },
      { Field: 'path-pattern', PathPatternConfig: { Values: ['/v1/photos/*/history'] } },
    ]),
    Actions: [Match.objectLike({ TargetGroupArn: write })],
  });
  services.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
    Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/metrics'] } }],
    Actions: [Match.objectLike({ Type: 'fixed-response' })],
  });
});

test('with a certificate the load balancer serves HTTPS and redirects HTTP', () => {
  const certificateArn = 'arn:aws:acm:us-east-1:123456789012:certificate/test';
  const { services } = synth({ certificateArn });
  services.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
    Port: 443, Protocol: 'HTTPS', Certificates: [{ CertificateArn: certificateArn }],
  });
  services.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
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
