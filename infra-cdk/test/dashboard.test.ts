/** The operators' dashboard: one, with the widgets README.md's Operations section refers to. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PREFIX, resourcesOf, synth } from './synth';

/** The dashboard's body as text, its CloudFormation references replaced by `<ref>`, and parsed. */
function dashboard(): { text: string; widgets: { properties: Record<string, any> }[] } {
  const dashboards = Object.values(resourcesOf(synth().services, 'AWS::CloudWatch::Dashboard'));
  assert.equal(dashboards.length, 1);
  const body = dashboards[0]!.Properties!.DashboardBody as string | { 'Fn::Join': [string, unknown[]] };
  const text = typeof body === 'string'
    ? body
    // Every reference sits inside a JSON string of the body.
    : body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : '<ref>')).join('');
  return { text, widgets: (JSON.parse(text) as { widgets: { properties: Record<string, any> }[] }).widgets };
}

/** The metrics (namespace and name) charted by the widget titled `title`. */
function chartOf(title: string): string[] {
  const widget = dashboard().widgets.find((candidate) => candidate.properties['title'] === title);
  assert.ok(widget !== undefined, `no widget "${title}"`);
  return (widget.properties['metrics'] as unknown[][]).map((metric) => `${metric[0]} ${metric[1]}`);
}

test('one dashboard, named for the deployment', () => {
  synth().services.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: `${PREFIX}catalog` });
  assert.ok(dashboard().widgets.length >= 19);
});

test('per API (its target group): requests, p50 and p99 latency, 5xx', () => {
  assert.deepEqual(chartOf('API requests'), Array(3).fill('AWS/ApplicationELB RequestCount'));
  const latency = dashboard().widgets.find((widget) => widget.properties['title'] === 'API latency p50 / p99 (s)')!;
  const stats = (latency.properties['metrics'] as unknown[][]).map((metric) => (metric.at(-1) as { stat: string }).stat);
  assert.deepEqual(stats, ['p50', 'p99', 'p50', 'p99', 'p50', 'p99']);
  assert.ok(chartOf('API latency p50 / p99 (s)').every((metric) => metric === 'AWS/ApplicationELB TargetResponseTime'));
  assert.deepEqual(chartOf('API 5xx'), [...Array(3).fill('AWS/ApplicationELB HTTPCode_Target_5XX_Count'),
    'AWS/ApplicationELB HTTPCode_ELB_5XX_Count']);
});

test("on the APIs' row, the write API's uploads: in progress (the busiest task), refused by reason", () => {
  const namespace = `PhotoCatalog/${PREFIX.replace(/-$/, '')}`;
  const title = 'Write API uploads: in progress, refused by reason';
  assert.deepEqual(chartOf(title), [`${namespace} catalog_uploads_in_progress`,
    ...Array(2).fill(`${namespace} catalog_uploads_refused_total`)]);
  const { widgets } = dashboard();
  const widget = widgets.find((candidate) => candidate.properties['title'] === title)!;
  const metrics = widget.properties['metrics'] as unknown[][];
  assert.deepEqual(metrics.map((metric) => metric.slice(2, -1)), [
    ['service', 'write-api'],
    ['reason', 'seller', 'service', 'write-api'],
    ['reason', 'memory', 'service', 'write-api'],
  ]);
  const options = metrics.map((metric) => metric.at(-1) as { stat: string; yAxis?: string });
  assert.deepEqual(options.map((option) => [option.stat, option.yAxis ?? 'left']),
    [['Maximum', 'left'], ['Sum', 'right'], ['Sum', 'right']]);
  // Right after the APIs' requests, latency and 5xx, before the queues.
  const titles = widgets.map((candidate) => candidate.properties['title']);
  assert.equal(titles.indexOf(title), titles.indexOf('API 5xx') + 1);
  assert.equal(titles.indexOf('Queue depth (visible)'), titles.indexOf(title) + 1);
});

test('per queue: depth, age of the oldest message, dead letters', () => {
  assert.deepEqual(chartOf('Queue depth (visible)'), Array(3).fill('AWS/SQS ApproximateNumberOfMessagesVisible'));
  assert.deepEqual(chartOf('Queue: age of oldest message (s)'), Array(3).fill('AWS/SQS ApproximateAgeOfOldestMessage'));
  assert.deepEqual(chartOf('Dead letters'), Array(3).fill('AWS/SQS ApproximateNumberOfMessagesVisible'));
});

test("the catalog's own metrics: outbox age, projection lag, image jobs, AVIF backlog, webhooks", () => {
  const namespace = `PhotoCatalog/${PREFIX.replace(/-$/, '')}`;
  const { text } = dashboard();
  for (const family of [
    'catalog_outbox_oldest_unpublished_seconds', 'catalog_outbox_unpublished_events', 'catalog_projection_lag_seconds',
    'catalog_projections_total', 'catalog_image_jobs_total', 'catalog_image_job_seconds', 'catalog_avif_backlog',
    'catalog_webhook_delivery_seconds', 'catalog_webhook_give_ups_total',
  ]) {
    assert.ok(text.includes(`"${namespace}","${family}"`), family);
  }
  assert.deepEqual(chartOf('Image jobs by outcome'), Array(4).fill(`${namespace} catalog_image_jobs_total`));
});

test('Aurora CPU, connections and ACU; DynamoDB consumed capacity and throttles', () => {
  assert.deepEqual(chartOf('Aurora CPU (%) and connections'), ['AWS/RDS CPUUtilization', 'AWS/RDS DatabaseConnections']);
  assert.deepEqual(chartOf('Aurora capacity (ACU)'), ['AWS/RDS ServerlessDatabaseCapacity', 'AWS/RDS ACUUtilization']);
  assert.deepEqual(chartOf('DynamoDB read model: consumed capacity, throttles'), ['AWS/DynamoDB ConsumedReadCapacityUnits',
    'AWS/DynamoDB ConsumedWriteCapacityUnits', 'AWS/DynamoDB ReadThrottleEvents', 'AWS/DynamoDB WriteThrottleEvents']);
});

test('CloudFront requests, cache hit rate and 5xx, read in us-east-1 with Region=Global', () => {
  const { widgets } = dashboard();
  assert.deepEqual(chartOf('CloudFront requests'), Array(3).fill('AWS/CloudFront Requests'));
  assert.deepEqual(chartOf('CloudFront cache hit rate (%)'), Array(2).fill('AWS/CloudFront CacheHitRate'));
  assert.deepEqual(chartOf('CloudFront 5xx rate (%)'), Array(3).fill('AWS/CloudFront 5xxErrorRate'));
  for (const widget of widgets.filter((candidate) => /^CloudFront/.test(candidate.properties['title']))) {
    for (const metric of widget.properties['metrics'] as unknown[][]) {
      assert.deepEqual(metric.slice(2, 6), ['DistributionId', '<ref>', 'Region', 'Global']);
      assert.equal((metric.at(-1) as { region: string }).region, 'us-east-1');
    }
  }
  // The cache hit rate is an additional metric: both distributions it is charted for publish them.
  const { data, services } = synth();
  for (const template of [data, services]) {
    assert.ok(Object.keys(resourcesOf(template, 'AWS::CloudFront::MonitoringSubscription')).length === 1);
  }
});
