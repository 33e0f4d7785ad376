/**
 * Telemetry: the ADOT collector beside every catalog process, what it reads and where it sends,
 * the workers' liveness check, and that no metrics port is reachable from outside a task.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Template } from 'aws-cdk-lib/assertions';
import { CATALOG_METRICS, COLLECTOR_CONTAINER, COLLECTOR_IMAGE } from '../lib/observability';
import { COMMANDS, PREFIX, resourcesOf, synth, taskOf, taskRoleGrants } from './synth';

/** Every catalog task: the services stack's processes and CatalogData's one-off rebuild. */
function tasks(): { command: string; template: Template }[] {
  const { data, services } = synth();
  return [...COMMANDS.map((command) => ({ command, template: services })), { command: 'rebuild', template: data }];
}

type Container = Record<string, any>;

function containersOf(template: Template, command: string): { catalog: Container; collector: Container } {
  const definitions = taskOf(template, command).properties.ContainerDefinitions as Container[];
  assert.equal(definitions.length, 2, command);
  return {
    catalog: definitions.find((container) => container.Name === 'catalog')!,
    collector: definitions.find((container) => container.Name === COLLECTOR_CONTAINER)!,
  };
}

function environment(container: Container): Record<string, unknown> {
  return Object.fromEntries((container.Environment as { Name: string; Value: unknown }[]).map((variable) => [variable.Name, variable.Value]));
}

/** The collector's configuration of `command`, its CloudFormation references replaced by `<ref>`. */
function collectorConfig(template: Template, command: string): Record<string, any> {
  const value = environment(containersOf(template, command).collector)['AOT_CONFIG_CONTENT'];
  const text = typeof value === 'string'
    ? value
    : ((value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1]).map((part) => (typeof part === 'string' ? part : '<ref>')).join('');
  return JSON.parse(text) as Record<string, any>;
}

test('every catalog task runs the pinned ADOT collector beside the process, not essential, with its own share', () => {
  for (const { command, template } of tasks()) {
    const { catalog, collector } = containersOf(template, command);
    assert.equal(collector.Image, COLLECTOR_IMAGE, command);
    assert.match(COLLECTOR_IMAGE, /^public\.ecr\.aws\/aws-observability\/aws-otel-collector:v\d+\.\d+\.\d+$/);
    // A collector crash must not stop the process; ECS restarts it in place.
    assert.equal(collector.Essential, false, command);
    assert.deepEqual(collector.RestartPolicy, { Enabled: true }, command);
    assert.equal(collector.Cpu, 64, command);
    assert.equal(collector.Memory, 256, command);
    assert.ok(collector.LogConfiguration.LogDriver === 'awslogs', command);
    assert.equal(catalog.Essential, true, command);
    assert.deepEqual(catalog.DependsOn, [{ ContainerName: COLLECTOR_CONTAINER, Condition: 'START' }], command);
  }
});

test('every catalog container serves metrics on 9464, sends OTLP to the collector and names its part', () => {
  for (const { command, template } of tasks()) {
    const variables = environment(containersOf(template, command).catalog);
    assert.equal(variables['CATALOG_METRICS_ADDR'], '0.0.0.0:9464', command);
    assert.equal(variables['OTEL_EXPORTER_OTLP_ENDPOINT'], 'http://localhost:4318', command);
    assert.equal(variables['OTEL_SERVICE_NAME'], `catalog-${command}`, command);
  }
});

test('every part samples traces alike, by trace id, 1 in 10, so a photo\'s trace is whole or absent', () => {
  for (const { command, template } of tasks()) {
    const variables = environment(containersOf(template, command).catalog);
    assert.equal(variables['OTEL_TRACES_SAMPLER'], 'traceidratio', command);
    assert.equal(variables['OTEL_TRACES_SAMPLER_ARG'], '0.1', command);
  }
});

test('the collector takes OTLP on loopback, scrapes localhost:9464 every 30 s, sends traces to X-Ray and metrics as EMF', () => {
  for (const { command, template } of tasks()) {
    const config = collectorConfig(template, command);
    assert.deepEqual(config['receivers'].otlp.protocols, {
      grpc: { endpoint: 'localhost:4317' }, http: { endpoint: 'localhost:4318' },
    }, command);
    const [scrape] = config['receivers'].prometheus.config.scrape_configs;
    assert.equal(scrape.scrape_interval, '30s', command);
    assert.deepEqual(scrape.static_configs, [{ targets: ['localhost:9464'], labels: { service: command } }], command);
    const pipelines = config['service'].pipelines;
    assert.deepEqual([pipelines.traces.receivers, pipelines.traces.exporters], [['otlp'], ['awsxray']], command);
    assert.deepEqual([pipelines.metrics.receivers, pipelines.metrics.exporters], [['prometheus'], ['awsemf']], command);
    // awsemf would send a Prometheus histogram's running totals as one period's: deltas first.
    assert.ok(pipelines.metrics.processors.includes('cumulativetodelta'), command);
    const emf = config['exporters'].awsemf;
    assert.equal(emf.namespace, `PhotoCatalog/${PREFIX.replace(/-$/, '')}`, command);
    assert.equal(emf.log_group_name, '<ref>', command);
    assert.equal(emf.dimension_rollup_option, 'NoDimensionRollup', command);
  }
});

test("the metrics' dimensions are service and the family's own labels: every family declared once, nothing else", () => {
  const declarations = collectorConfig(synth().services, 'write-api')['exporters'].awsemf.metric_declarations as
    { dimensions: string[][]; metric_name_selectors: string[] }[];
  const declared = new Map<string, string[][]>();
  for (const declaration of declarations) {
    for (const selector of declaration.metric_name_selectors) {
      const family = /^\^([a-z_]+)\$\$$/.exec(selector)?.[1];
      assert.ok(family !== undefined, selector);
      assert.ok(!declared.has(family), family);
      declared.set(family, declaration.dimensions);
    }
  }
  assert.deepEqual([...declared.keys()].sort(), Object.keys(CATALOG_METRICS).sort());
  for (const [family, labels] of Object.entries(CATALOG_METRICS)) {
    const [full, ...rollups] = declared.get(family)!;
    assert.deepEqual(full, ['service', ...labels], family);
    for (const rollup of rollups) {
      assert.equal(rollup[0], 'service', family);
      assert.ok(rollup.every((dimension) => full!.includes(dimension)), family);
    }
  }
  // Image jobs by outcome alone, for the failure-rate alarm.
  assert.deepEqual(declared.get('catalog_image_jobs_total'), [['service', 'outcome', 'reason'], ['service', 'outcome']]);
});

test("the write API's upload admission reaches CloudWatch: uploads in progress by service, refused by service and reason", () => {
  const declarations = collectorConfig(synth().services, 'write-api')['exporters'].awsemf.metric_declarations as
    { dimensions: string[][]; metric_name_selectors: string[] }[];
  const dimensionsOf = (family: string) =>
    declarations.find((declaration) => declaration.metric_name_selectors.includes(`^${family}$$`))?.dimensions;
  assert.deepEqual(dimensionsOf('catalog_uploads_in_progress'), [['service']]);
  assert.deepEqual(dimensionsOf('catalog_uploads_refused_total'), [['service', 'reason']]);
});

test('the workers are health-checked with `catalog alive`; the APIs (by the load balancer) and one-off jobs are not', () => {
  const { services } = synth();
  for (const command of ['relay', 'project', 'process-images', 'notify']) {
    assert.deepEqual(containersOf(services, command).catalog.HealthCheck, {
      Command: ['CMD', 'catalog', 'alive'], Interval: 30, Timeout: 5, Retries: 3, StartPeriod: 60,
    }, command);
  }
  for (const { command, template } of tasks().filter((task) => ['write-api', 'read-api', 'resync', 'rebuild'].includes(task.command))) {
    assert.equal(containersOf(template, command).catalog.HealthCheck, undefined, command);
  }
});

test('no metrics port is reachable: no security group admits 9464, no container maps it, the load balancer targets only the API ports', () => {
  const { data, services } = synth();
  const covers = (rule: Record<string, any>): boolean => rule.IpProtocol === '-1'
    || (typeof rule.FromPort === 'number' && rule.FromPort <= 9464 && 9464 <= rule.ToPort);
  for (const template of [data, services]) {
    const inline = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroup'))
      .flatMap((group) => (group.Properties!.SecurityGroupIngress ?? []) as Record<string, any>[]);
    const separate = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress')).map((rule) => rule.Properties!);
    for (const rule of [...inline, ...separate]) {
      assert.ok(!covers(rule), JSON.stringify(rule));
    }
  }
  for (const { command, template } of tasks()) {
    const { catalog, collector } = containersOf(template, command);
    const mapped = [...(catalog.PortMappings ?? []), ...(collector.PortMappings ?? [])].map((mapping: { ContainerPort: number }) => mapping.ContainerPort);
    assert.ok(mapped.every((port) => port === 8080 || port === 8081), `${command}: ${mapped}`);
  }
  const groups = Object.values(resourcesOf(services, 'AWS::ElasticLoadBalancingV2::TargetGroup'));
  assert.deepEqual([...new Set(groups.map((group) => group.Properties!.Port))].sort(), [8080, 8081]);
  const listeners = Object.values(resourcesOf(services, 'AWS::ElasticLoadBalancingV2::Listener'));
  assert.ok(listeners.every((listener) => [80, 443].includes(listener.Properties!.Port)));
});

test("each task's collector may only put trace segments and write its own metric events", () => {
  for (const { command, template } of tasks()) {
    const grants = taskRoleGrants(template, command);
    const traces = grants.filter((grant) => grant.actions.some((action) => action.startsWith('xray:')));
    assert.deepEqual(traces.map((grant) => [grant.actions, grant.resources]), [[['xray:PutTraceSegments'], '"*"']], command);
    const logGrants = grants.filter((grant) => grant.actions.some((action) => action.startsWith('logs:')));
    assert.equal(logGrants.length, 1, command);
    assert.deepEqual(logGrants[0]!.actions.sort(), ['logs:CreateLogStream', 'logs:PutLogEvents'], command);
    // The task's own metrics log group, which the collector's configuration names.
    const group = /^\{"Fn::GetAtt":\["([A-Za-z0-9]+)","Arn"\]\}$/.exec(logGrants[0]!.resources)?.[1];
    assert.ok(group !== undefined, logGrants[0]!.resources);
    const value = environment(containersOf(template, command).collector)['AOT_CONFIG_CONTENT'];
    assert.match(JSON.stringify(value), new RegExp(`\\{"Ref":"${group}"\\}`), command);
  }
});
