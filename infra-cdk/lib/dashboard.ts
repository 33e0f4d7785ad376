/**
 * One CloudWatch dashboard for the whole catalog, in the order a request and a photo travel:
 * the APIs (from the load balancer's target groups; the write API's multipart uploads in progress
 * and refused, by reason, after them on that row), the queues, the outbox and the projection,
 * the image jobs and AVIF backlog, the webhooks, then what everything stands on: Aurora,
 * DynamoDB and the CloudFront distributions.
 *
 * Latency percentiles (p50, p99) are the load balancer's: the catalog's own histograms reach
 * CloudWatch as count and sum only (observability.ts), so their charts show rates and means.
 *
 * CloudFront publishes its metrics in us-east-1 (dimension `Region=Global`) whatever region the
 * stacks are in; a dashboard may chart another region's metrics, so those carry `region:
 * us-east-1` and the stacks still fix no region at synth time. Alarms cannot reach across
 * regions, which is one reason none watches CloudFront (the load balancer's 5xx alarms see the
 * API's errors anyway).
 */
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { QueuePair } from './messaging';
import { QueueRole } from './resources';

/** Where CloudFront's metrics are, for every distribution. */
export const CLOUDFRONT_METRICS_REGION = 'us-east-1';

export interface DashboardProps {
  readonly dashboardName: string;
  /** The CloudWatch namespace of the catalog's own metrics. */
  readonly catalogNamespace: string;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  /** The APIs' target groups, by the name the charts give them. */
  readonly apis: Readonly<Record<string, elbv2.ApplicationTargetGroup>>;
  readonly queues: Readonly<Record<QueueRole, QueuePair>>;
  readonly database: rds.DatabaseCluster;
  readonly table: dynamodb.ITableV2;
  /** The distributions, by the name the charts give them. */
  readonly distributions: Readonly<Record<string, cloudfront.IDistribution>>;
  /** Those of `distributions` that publish additional metrics (the cache hit rate). */
  readonly cacheHitRates: readonly string[];
}

const PERIOD = Duration.minutes(5);
const WIDTH = 8;
const HEIGHT = 6;

export class CatalogDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: DashboardProps) {
    super(scope, id);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(3),
    });
    const catalog = (metricName: string, dimensionsMap: Record<string, string>, statistic: string, label: string) =>
      new cloudwatch.Metric({ namespace: props.catalogNamespace, metricName, dimensionsMap, statistic, label, period: PERIOD });

    this.dashboard.addWidgets(new cloudwatch.TextWidget({
      markdown: '**Photo catalog.** API percentiles are the load balancer\'s; the catalog\'s own histograms show '
        + 'means (CloudWatch gets their count and sum only). Counters are per 5 minutes. Traces: X-Ray, services '
        + '`catalog-<part>`. Every alarm names its runbook section in infra-cdk/README.md, "Operations".',
      width: 24,
      height: 2,
    }));

    this.dashboard.addWidgets(...this.apiWidgets(props), graph('Write API uploads: in progress, refused by reason', [
      // A gauge per task (the dimensions name none): the busiest task's, since the memory budget is per task.
      catalog('catalog_uploads_in_progress', { service: 'write-api' }, 'Maximum', 'in progress (busiest task)'),
    ], ['seller', 'memory'].map((reason) =>
      catalog('catalog_uploads_refused_total', { service: 'write-api', reason }, 'Sum', `refused: ${reason}`))));
    this.dashboard.addWidgets(...this.queueWidgets(props));

    this.dashboard.addWidgets(
      graph('Outbox: oldest unpublished event (s)', [
        catalog('catalog_outbox_oldest_unpublished_seconds', { service: 'write-api' }, 'Maximum', 'oldest unpublished (s)'),
      ], [
        catalog('catalog_outbox_unpublished_events', { service: 'write-api' }, 'Maximum', 'unpublished events'),
        catalog('catalog_relay_publish_failures_total', { service: 'relay' }, 'Sum', 'publish failures'),
      ]),
      graph('Projection lag (s)', [
        catalog('catalog_projection_lag_seconds', { service: 'project' }, 'Average', 'mean append-to-projection'),
        props.queues.projector.queue.metricApproximateAgeOfOldestMessage({
          period: PERIOD, statistic: 'Maximum', label: 'oldest waiting (projector queue)',
        }),
      ], ['applied', 'already_applied', 'failed'].map((outcome) =>
        catalog('catalog_projections_total', { service: 'project', outcome }, 'Sum', `projections ${outcome}`))),
      graph('AVIF backlog', [
        catalog('catalog_avif_backlog', { service: 'process-images' }, 'Maximum', 'photos waiting for AVIF'),
      ], [
        catalog('catalog_avif_encode_seconds', { service: 'process-images' }, 'Average', 'mean encode (s)'),
      ]),
    );

    this.dashboard.addWidgets(
      graph('Image jobs by outcome', ['ready', 'failed', 'retry', 'skipped'].map((outcome) =>
        catalog('catalog_image_jobs_total', { service: 'process-images', outcome }, 'Sum', outcome))),
      graph('Image job time, mean (s)', [
        ...['ready', 'failed'].map((outcome) =>
          catalog('catalog_image_job_seconds', { service: 'process-images', stage: 'total', outcome }, 'Average', `total, ${outcome}`)),
        ...['download', 'decode', 'resize', 'encode', 'store'].map((stage) =>
          catalog('catalog_image_job_seconds', { service: 'process-images', stage, outcome: 'ready' }, 'Average', stage)),
      ]),
      graph('Webhooks: attempts by outcome, give-ups', ['delivered', 'failed', 'refused'].map((outcome) =>
        catalog('catalog_webhook_delivery_seconds', { service: 'notify', outcome }, 'SampleCount', outcome)), [
        catalog('catalog_webhook_give_ups_total', { service: 'notify' }, 'Sum', 'given up'),
      ]),
    );

    this.dashboard.addWidgets(...this.storageWidgets(props));
    this.dashboard.addWidgets(...this.cdnWidgets(props));
  }

  /** Requests, p50/p99 latency and 5xx per API, from its target group. */
  private apiWidgets(props: DashboardProps): cloudwatch.IWidget[] {
    const apis = Object.entries(props.apis);
    return [
      graph('API requests', apis.map(([name, group]) =>
        group.metrics.requestCount({ period: PERIOD, statistic: 'Sum', label: name }))),
      graph('API latency p50 / p99 (s)', apis.flatMap(([name, group]) => ['p50', 'p99'].map((statistic) =>
        group.metrics.targetResponseTime({ period: PERIOD, statistic, label: `${name} ${statistic}` })))),
      graph('API 5xx', [
        ...apis.map(([name, group]) => group.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
          period: PERIOD, statistic: 'Sum', label: name,
        })),
        props.loadBalancer.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, {
          period: PERIOD, statistic: 'Sum', label: 'load balancer itself',
        }),
      ]),
    ];
  }

  /** Each queue's depth and oldest message, and each dead-letter queue's depth. */
  private queueWidgets(props: DashboardProps): cloudwatch.IWidget[] {
    const pairs = Object.entries(props.queues);
    const gauge = { period: PERIOD, statistic: 'Maximum' };
    return [
      graph('Queue depth (visible)', pairs.map(([role, { queue }]) =>
        queue.metricApproximateNumberOfMessagesVisible({ ...gauge, label: role }))),
      graph('Queue: age of oldest message (s)', pairs.map(([role, { queue }]) =>
        queue.metricApproximateAgeOfOldestMessage({ ...gauge, label: role }))),
      graph('Dead letters', pairs.map(([role, { deadLetterQueue }]) =>
        deadLetterQueue.metricApproximateNumberOfMessagesVisible({ ...gauge, label: role }))),
    ];
  }

  /** Aurora's CPU, connections and capacity; the read model's consumed capacity and throttles. */
  private storageWidgets(props: DashboardProps): cloudwatch.IWidget[] {
    const { database, table } = props;
    const sum = (metricName: string, label: string) => table.metric(metricName, { period: PERIOD, statistic: 'Sum', label });
    return [
      graph('Aurora CPU (%) and connections', [
        database.metricCPUUtilization({ period: PERIOD, statistic: 'Maximum', label: 'CPU %' }),
      ], [
        database.metricDatabaseConnections({ period: PERIOD, statistic: 'Maximum', label: 'connections' }),
      ]),
      graph('Aurora capacity (ACU)', [
        database.metricServerlessDatabaseCapacity({ period: PERIOD, statistic: 'Maximum', label: 'ACU' }),
      ], [
        database.metricACUUtilization({ period: PERIOD, statistic: 'Maximum', label: '% of maximum ACU' }),
      ]),
      graph('DynamoDB read model: consumed capacity, throttles', [
        sum('ConsumedReadCapacityUnits', 'read units'),
        sum('ConsumedWriteCapacityUnits', 'write units'),
      ], [
        sum('ReadThrottleEvents', 'read throttles'),
        sum('WriteThrottleEvents', 'write throttles'),
      ]),
    ];
  }

  /** Requests, cache hit rate and 5xx rate of each distribution (us-east-1 metrics). */
  private cdnWidgets(props: DashboardProps): cloudwatch.IWidget[] {
    const distributions = Object.entries(props.distributions);
    const metric = (distribution: cloudfront.IDistribution, metricName: string, statistic: string, label: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/CloudFront',
        metricName,
        dimensionsMap: { DistributionId: distribution.distributionId, Region: 'Global' },
        region: CLOUDFRONT_METRICS_REGION,
        period: PERIOD,
        statistic,
        label,
      });
    return [
      graph('CloudFront requests', distributions.map(([name, distribution]) =>
        metric(distribution, 'Requests', 'Sum', name))),
      graph('CloudFront cache hit rate (%)', distributions
        .filter(([name]) => props.cacheHitRates.includes(name))
        .map(([name, distribution]) => metric(distribution, 'CacheHitRate', 'Average', name))),
      graph('CloudFront 5xx rate (%)', distributions.map(([name, distribution]) =>
        metric(distribution, '5xxErrorRate', 'Average', name))),
    ];
  }
}

/** A line chart of one row's third, with an optional right axis. */
function graph(title: string, left: cloudwatch.IMetric[], right: cloudwatch.IMetric[] = []): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({ title, left, right, width: WIDTH, height: HEIGHT });
}
