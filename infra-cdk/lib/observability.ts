/**
 * The telemetry of every `catalog` task: an AWS Distro for OpenTelemetry (ADOT) collector runs
 * beside the `catalog` container, and is the only thing that reads the process's metrics.
 *
 * Why a sidecar: in awsvpc mode the containers of a task share one network namespace, so the
 * collector scrapes `localhost:9464` and takes traces on `localhost:4317/4318`; no security
 * group rule, listener or target group ever names the metrics port, and the public API ports no
 * longer serve `/metrics` at all (docs/OPERATIONS.md). One collector per task also lives
 * and dies with its process, which keeps counters honest (see `initial_value` below).
 *
 * Why it is not essential: a collector that crashes must not stop the catalog process (and with
 * it the API or a queue consumer). ECS restarts it in place (restart policy) and, until then, the
 * task keeps serving; what is lost is that task's telemetry for the gap.
 *
 * Where it sends: traces to X-Ray (awsxray exporter), metrics to CloudWatch as embedded metric
 * format log events (awsemf exporter) in the namespace of the deployment, so the dashboard and
 * the alarms sit beside the load balancer's, SQS', Aurora's and DynamoDB's own metrics, with no
 * Prometheus workspace to run. The dimensions are fixed here, per family (`CATALOG_METRICS`):
 * `service` (the part) and the family's own labels, which docs/OPERATIONS.md keeps bounded; a family or a
 * label this table does not name is dropped, not published.
 *
 * What CloudWatch gets of a histogram: awsemf sends an explicit-bucket histogram as a statistic
 * set (sample count and sum; Prometheus histograms carry no min or max, and the buckets are not
 * sent), so CloudWatch can chart rates and means of the catalog's histograms but no percentile.
 * The percentiles that alarms need come from the load balancer (TargetResponseTime).
 */
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

/** The collector's image, pinned: a new release is a reviewed change, not a surprise at a task start. */
export const COLLECTOR_IMAGE = 'public.ecr.aws/aws-observability/aws-otel-collector:v0.49.0';
/** The name of the collector's container in every task definition. */
export const COLLECTOR_CONTAINER = 'otel-collector';

/** Where each process serves its Prometheus metrics (every address of the task; no rule opens it). */
export const METRICS_PORT = 9464;
/** OTLP over gRPC and over HTTP, on the task's loopback only. */
export const OTLP_GRPC_PORT = 4317;
export const OTLP_HTTP_PORT = 4318;
/** The collector's own health endpoint (its image's `/healthcheck` asks it). */
const COLLECTOR_HEALTH_PORT = 13133;
/** How often the collector reads the process's metrics. */
export const SCRAPE_INTERVAL = Duration.seconds(30);

/** The collector's share of its task: at most this much memory, so it never starves the process. */
export const COLLECTOR_MEMORY_MIB = 256;
/** Its CPU weight (units of 1/1024 vCPU) when the task's CPU is contended. */
export const COLLECTOR_CPU = 64;

/** The only call the awsxray exporter makes (its telemetry records are off by default). */
export const TRACE_ACTIONS = ['xray:PutTraceSegments'] as const;
/** The awsemf exporter's calls on its log group, which CDK creates (so no CreateLogGroup). */
export const EMF_LOG_ACTIONS = ['logs:CreateLogStream', 'logs:PutLogEvents'] as const;

/**
 * The metric families the `catalog` processes export (the table of docs/OPERATIONS.md), each with its own
 * labels. Every family is published with `service` plus these labels as its dimensions.
 */
export const CATALOG_METRICS: Readonly<Record<string, readonly string[]>> = {
  http_request_duration_seconds: ['method', 'route', 'status_class'],
  catalog_outbox_oldest_unpublished_seconds: [],
  catalog_outbox_unpublished_events: [],
  catalog_events_published_total: ['event_type'],
  catalog_events_quarantined_total: [],
  catalog_relay_publish_failures_total: [],
  catalog_projection_lag_seconds: [],
  catalog_projections_total: ['outcome'],
  catalog_image_job_seconds: ['stage', 'outcome'],
  catalog_image_jobs_total: ['outcome', 'reason'],
  catalog_avif_backlog: [],
  catalog_avif_encode_seconds: [],
  catalog_webhook_delivery_seconds: ['outcome'],
  catalog_webhook_give_ups_total: [],
  catalog_queue_in_flight: ['queue'],
  catalog_queue_messages_received_total: ['queue'],
  catalog_queue_messages_deleted_total: ['queue'],
  catalog_queue_messages_redelivered_total: ['queue'],
  catalog_loop_heartbeat_timestamp_seconds: ['loop'],
  catalog_resync_photos: ['result'],
  catalog_job_last_success_timestamp_seconds: ['job'],
  catalog_uploads_in_progress: [],
  catalog_uploads_refused_total: ['reason'],
};

/**
 * Coarser dimension sets published besides the full one, where an alarm needs a total that
 * a CloudWatch alarm cannot add up itself (alarms take no SEARCH): image jobs by outcome alone.
 */
export const METRIC_ROLLUPS: Readonly<Record<string, readonly (readonly string[])[]>> = {
  catalog_image_jobs_total: [['outcome']],
};

/** The CloudWatch namespace of one deployment's catalog metrics: `PhotoCatalog/<prefix>`. */
export function metricsNamespace(resourcePrefix: string): string {
  return `PhotoCatalog/${resourcePrefix.replace(/-+$/, '')}`;
}

/** The part's name as OTEL_SERVICE_NAME gives it to its traces. */
export function serviceName(part: string): string {
  return `catalog-${part}`;
}

/**
 * The share of photos' traces exported. Sampled by trace id, so every part keeps or drops a
 * photo's whole trace alike, and every log line keeps its trace id either way. Exporting every
 * span costs the write path measurably (`./dev bench write --telemetry`) and X-Ray bills by the
 * trace: at a peak of 1,000 uploads a second, 1 in 10 is still some 8 million traces a day.
 */
export const TRACE_SAMPLE_RATIO = 0.1;

/** What every `catalog` container is told: where to serve metrics, where to send traces (and how many), its name. */
export function telemetryEnvironment(part: string): Record<string, string> {
  return {
    CATALOG_METRICS_ADDR: `0.0.0.0:${METRICS_PORT}`,
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://localhost:${OTLP_HTTP_PORT}`,
    OTEL_SERVICE_NAME: serviceName(part),
    OTEL_TRACES_SAMPLER: 'traceidratio',
    OTEL_TRACES_SAMPLER_ARG: String(TRACE_SAMPLE_RATIO),
  };
}

/**
 * A worker's liveness, as ECS checks it: `catalog alive` reads the process's own metrics and
 * fails when a loop's heartbeat is older than 300 s (or nothing answers). Three failures in a
 * row, 30 s apart, and ECS replaces the task; the first minute after a start does not count.
 */
export const LIVENESS_CHECK: ecs.HealthCheck = {
  command: ['CMD', 'catalog', 'alive'],
  interval: Duration.seconds(30),
  timeout: Duration.seconds(5),
  retries: 3,
  startPeriod: Duration.seconds(60),
};

/** awsemf's `metric_declarations`: one per distinct set of dimension sets, naming its families. */
export function metricDeclarations(): { dimensions: string[][]; metric_name_selectors: string[] }[] {
  const groups = new Map<string, { dimensions: string[][]; metric_name_selectors: string[] }>();
  for (const [family, labels] of Object.entries(CATALOG_METRICS)) {
    const dimensions = [labels, ...(METRIC_ROLLUPS[family] ?? [])].map((set) => ['service', ...set]);
    const key = JSON.stringify(dimensions);
    const group = groups.get(key) ?? { dimensions, metric_name_selectors: [] };
    // `$$` is the collector's escape of `$` (a lone `$` may start a variable); in a Go regexp
    // `$$` is still the end of the name, so either reading selects the family exactly.
    group.metric_name_selectors.push(`^${family}$$`);
    groups.set(key, group);
  }
  return [...groups.values()];
}

export interface CollectorSettings {
  /** The catalog part (`write-api`, `resync`, ...): the `service` dimension of its metrics. */
  readonly part: string;
  /** The CloudWatch namespace of its metrics. */
  readonly namespace: string;
  /** The log group the awsemf exporter writes its metric events to. */
  readonly metricsLogGroupName: string;
}

/**
 * The collector's configuration (`AOT_CONFIG_CONTENT`). Written as JSON, which is YAML: the
 * collector parses it as YAML, the tests with `JSON.parse`.
 *
 * - receivers: OTLP on loopback (the process sends OTLP/HTTP to :4318), and a Prometheus scrape
 *   of `localhost:9464` every 30 s whose target label `service` names the part;
 * - processors: a memory limiter (refuse data before the container's limit is reached), the
 *   task's ECS identity (log stream per task, trace-to-log links), cumulative-to-delta (awsemf
 *   would otherwise send a Prometheus histogram's running totals as if they were one period's;
 *   `initial_value: keep` because the collector starts with its process, so the first reading is
 *   a true delta, and a counter born at 1, such as a first give-up, is not lost), batches;
 * - exporters: awsxray (photo_id indexed as an annotation, so a photo's traces can be found by
 *   it), and awsemf with the fixed dimensions of `metricDeclarations` and no rollups.
 */
export function collectorConfig(settings: CollectorSettings): string {
  const config = {
    extensions: {
      health_check: { endpoint: `localhost:${COLLECTOR_HEALTH_PORT}` },
    },
    receivers: {
      otlp: {
        protocols: {
          grpc: { endpoint: `localhost:${OTLP_GRPC_PORT}` },
          http: { endpoint: `localhost:${OTLP_HTTP_PORT}` },
        },
      },
      prometheus: {
        config: {
          scrape_configs: [{
            job_name: serviceName(settings.part),
            scrape_interval: `${SCRAPE_INTERVAL.toSeconds()}s`,
            scrape_timeout: '10s',
            metrics_path: '/metrics',
            // The catalog serves Prometheus text; read it as such whatever its Content-Type says.
            fallback_scrape_protocol: 'PrometheusText0.0.4',
            static_configs: [{ targets: [`localhost:${METRICS_PORT}`], labels: { service: settings.part } }],
          }],
        },
      },
    },
    processors: {
      memory_limiter: { check_interval: '1s', limit_mib: COLLECTOR_MEMORY_MIB - 56, spike_limit_mib: 50 },
      resourcedetection: { detectors: ['env', 'ecs'], timeout: '5s', override: false },
      cumulativetodelta: { initial_value: 'keep' },
      'batch/traces': { timeout: '1s', send_batch_size: 50 },
      'batch/metrics': { timeout: '30s' },
    },
    exporters: {
      awsxray: { indexed_attributes: ['photo_id'] },
      awsemf: {
        namespace: settings.namespace,
        log_group_name: settings.metricsLogGroupName,
        log_stream_name: '{TaskId}',
        dimension_rollup_option: 'NoDimensionRollup',
        metric_declarations: metricDeclarations(),
      },
    },
    service: {
      extensions: ['health_check'],
      pipelines: {
        traces: {
          receivers: ['otlp'],
          processors: ['memory_limiter', 'resourcedetection', 'batch/traces'],
          exporters: ['awsxray'],
        },
        metrics: {
          receivers: ['prometheus'],
          processors: ['memory_limiter', 'resourcedetection', 'cumulativetodelta', 'batch/metrics'],
          exporters: ['awsemf'],
        },
      },
    },
  };
  return JSON.stringify(config);
}

export interface TelemetryCollectorProps {
  readonly taskDefinition: ecs.TaskDefinition;
  /** The `catalog` container, which starts once the collector has. */
  readonly app: ecs.ContainerDefinition;
  readonly part: string;
  readonly namespace: string;
  /** Where the collector's own log lines go (the process's log group, its own stream prefix). */
  readonly logGroup: logs.ILogGroup;
}

/** The ADOT sidecar of one task definition, its metric events' log group and its grants. */
export class TelemetryCollector extends Construct {
  readonly container: ecs.ContainerDefinition;
  /** The embedded-metric-format events CloudWatch reads the metrics from (kept a week, for debugging). */
  readonly metricsLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: TelemetryCollectorProps) {
    super(scope, id);

    this.metricsLogs = new logs.LogGroup(this, 'MetricsLogs', {
      retention: logs.RetentionDays.ONE_WEEK,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.container = props.taskDefinition.addContainer(COLLECTOR_CONTAINER, {
      image: ecs.ContainerImage.fromRegistry(COLLECTOR_IMAGE),
      // Not essential: a collector crash must not stop the catalog process; ECS restarts it in place.
      essential: false,
      enableRestartPolicy: true,
      cpu: COLLECTOR_CPU,
      memoryLimitMiB: COLLECTOR_MEMORY_MIB,
      environment: {
        AOT_CONFIG_CONTENT: collectorConfig({
          part: props.part,
          namespace: props.namespace,
          metricsLogGroupName: this.metricsLogs.logGroupName,
        }),
        AWS_REGION: Aws.REGION,
      },
      healthCheck: {
        command: ['CMD', '/healthcheck'],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(10),
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup: props.logGroup, streamPrefix: 'otel-collector' }),
    });
    // The process's first spans find a listener; at a stop ECS stops the process first, so the
    // collector is still there to take its last spans and flush them.
    props.app.addContainerDependencies({ container: this.container, condition: ecs.ContainerDependencyCondition.START });

    props.taskDefinition.addToTaskRolePolicy(new iam.PolicyStatement({
      actions: [...TRACE_ACTIONS],
      resources: ['*'],
    }));
    props.taskDefinition.addToTaskRolePolicy(new iam.PolicyStatement({
      actions: [...EMF_LOG_ACTIONS],
      resources: [this.metricsLogs.logGroupArn],
    }));
    NagSuppressions.addResourceSuppressions(props.taskDefinition.taskRole, [{
      id: 'AwsSolutions-IAM5',
      reason: 'The telemetry collector sends traces with xray:PutTraceSegments, which has no resource-level '
        + 'permissions; it is the only action granted on every resource.',
      appliesTo: ['Resource::*'],
    }], true);
  }
}
