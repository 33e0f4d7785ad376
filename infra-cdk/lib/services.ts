/**
 * The six long-running `catalog` processes on one Fargate cluster, each with its own task role
 * granted only the calls it makes:
 *
 * | process        | AWS it may use                                                        |
 * | -------------- | --------------------------------------------------------------------- |
 * | write-api      | originals: Put/Get/Delete object and its tags, abort multipart, ListBucket; the webhook secrets' key; Postgres |
 * | read-api       | table and its indexes: GetItem, Query; DescribeTable                  |
 * | relay          | events:PutEvents on the bus; Postgres                                 |
 * | project        | projector queue (consume); PutItem on the table                       |
 * | process-images | images queue (consume); originals GetObject; variants Put/Delete; Postgres |
 * | notify         | notifier queue (consume); the webhook secrets' key; Postgres; the internet (webhooks, via NAT) |
 *
 * The APIs verify bearer tokens with the Cognito user pool's published keys and answer CORS
 * for the seller page (`acceptTokens`); no token key is held anywhere in AWS.
 *
 * The APIs scale on CPU; the queue consumers on their backlog (visible plus in-flight messages,
 * so a worker is never scaled in while it still holds messages), the image processor from zero;
 * the notifier on visible messages only (its in-flight ones mostly wait for a retry).
 */
import * as applicationautoscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Duration } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { CatalogProcess, ProcessContext, ProcessProps } from './process';
import { QueueRole } from './resources';
import { VIEWER_IP_HEADER } from './api-cdn';

export const WRITE_API_PORT = 8080;
export const READ_API_PORT = 8081;

/** The calls a queue consumer makes on its queue. */
export const QUEUE_CONSUMER_ACTIONS = [
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:GetQueueUrl',
  'sqs:GetQueueAttributes',
] as const;

export interface ServicesProps extends ProcessContext {
  readonly originals: s3.IBucket;
  readonly variants: s3.IBucket;
  /** Where buyers fetch variants: `https://<CloudFront domain>`. */
  readonly variantsBaseUrl: string;
  readonly table: dynamodb.ITableV2;
  readonly indexNames: readonly string[];
  readonly bus: events.IEventBus;
  readonly queues: Readonly<Record<QueueRole, sqs.IQueue>>;
  /** The key of the sellers' webhook signing secrets, read by write-api and notify themselves. */
  readonly webhookKeySecret: secretsmanager.ISecret;
}

/** Whose bearer tokens the APIs accept, and which browser origins may call them. */
export interface TokenSettings {
  /** `CATALOG_JWKS_URL`: the issuer's signing keys. */
  readonly jwksUrl: string;
  /** `CATALOG_JWT_ISSUER`: the `iss` every token must carry. */
  readonly issuer: string;
  /** `CATALOG_JWT_AUDIENCE`: the app client id the tokens were issued to. */
  readonly audience: string;
  /** `CATALOG_CORS_ORIGINS`: origins whose browsers may call the APIs. */
  readonly corsOrigins: readonly string[];
}

/** How many tasks of a service run. */
interface Capacity {
  readonly min: number;
  readonly max: number;
}

export class Services extends Construct {
  readonly cluster: ecs.Cluster;
  readonly writeApi: ecs.FargateService;
  readonly readApi: ecs.FargateService;
  readonly relay: ecs.FargateService;
  readonly projector: ecs.FargateService;
  readonly imageProcessor: ecs.FargateService;
  readonly notifier: ecs.FargateService;
  /** Task roles by subcommand, for tests and audits. */
  readonly processes: Readonly<Record<string, CatalogProcess>>;
  /** write-api and read-api, which take bearer tokens. */
  private readonly apis: readonly CatalogProcess[];
  private tokensAccepted = false;

  constructor(scope: Construct, id: string, props: ServicesProps) {
    super(scope, id);

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    const tableArns = [props.table.tableArn];
    const indexArns = props.indexNames.map((name) => `${props.table.tableArn}/index/${name}`);
    const webhookKey = { CATALOG_WEBHOOK_KEY_SECRET: props.webhookKeySecret.secretArn };
    const processes: Record<string, CatalogProcess> = {};
    const process = (name: string, processProps: Omit<ProcessProps, 'command'>): CatalogProcess => {
      const created = new CatalogProcess(this, name, props, { command: name, ...processProps });
      processes[name] = created;
      return created;
    };

    const writeApi = process('write-api', {
      cpu: 512,
      memoryLimitMiB: 1024,
      usesEventStore: true,
      port: WRITE_API_PORT,
      environment: {
        CATALOG_WRITE_ADDR: `0.0.0.0:${WRITE_API_PORT}`,
        CATALOG_WEBHOOK_ALLOW_HTTP: 'false',
        ...webhookKey,
      },
    });
    writeApi.allow(['secretsmanager:GetSecretValue'], [props.webhookKeySecret.secretArn]);
    writeApi.allow(
      // Tagging: presigned uploads carry the unconfirmed-upload tag, which upload-complete removes.
      ['s3:PutObject', 's3:PutObjectTagging', 's3:DeleteObjectTagging', 's3:GetObject', 's3:DeleteObject',
        's3:AbortMultipartUpload'],
      [props.originals.arnForObjects('*')],
    );
    writeApi.allow(['s3:ListBucket'], [props.originals.bucketArn]);
    this.suppressObjectWildcard(writeApi, props.originals);

    const readApi = process('read-api', {
      cpu: 512,
      memoryLimitMiB: 1024,
      usesEventStore: false,
      port: READ_API_PORT,
      environment: {
        CATALOG_READ_ADDR: `0.0.0.0:${READ_API_PORT}`,
        CATALOG_VARIANTS_BASE_URL: props.variantsBaseUrl,
        // Behind CloudFront and the load balancer the peer is never the client: the API
        // distribution's viewer-request function writes the viewer's address here.
        CATALOG_CLIENT_IP_HEADER: VIEWER_IP_HEADER,
      },
    });
    readApi.allow(['dynamodb:GetItem', 'dynamodb:Query'], [...tableArns, ...indexArns]);
    readApi.allow(['dynamodb:DescribeTable'], tableArns);

    const relay = process('relay', { cpu: 256, memoryLimitMiB: 512, usesEventStore: true });
    relay.allow(['events:PutEvents'], [props.bus.eventBusArn]);

    const projector = process('project', { cpu: 256, memoryLimitMiB: 512, usesEventStore: false });
    projector.allow(QUEUE_CONSUMER_ACTIONS, [props.queues.projector.queueArn]);
    projector.allow(['dynamodb:PutItem'], tableArns);

    const imageProcessor = process('process-images', {
      cpu: 2048,
      memoryLimitMiB: 4096,
      usesEventStore: true,
      // Half the task's memory for decoded images; the rest for encoders, buffers, the runtime.
      environment: { CATALOG_IMAGE_MEMORY_MIB: '2048' },
    });
    imageProcessor.allow(QUEUE_CONSUMER_ACTIONS, [props.queues.images.queueArn]);
    imageProcessor.allow(['s3:GetObject'], [props.originals.arnForObjects('*')]);
    imageProcessor.allow(['s3:PutObject', 's3:DeleteObject'], [props.variants.arnForObjects('*')]);
    this.suppressObjectWildcard(imageProcessor, props.originals, props.variants);

    const notifier = process('notify', {
      cpu: 256,
      memoryLimitMiB: 512,
      usesEventStore: true,
      environment: { CATALOG_VARIANTS_BASE_URL: props.variantsBaseUrl, ...webhookKey },
    });
    notifier.allow(QUEUE_CONSUMER_ACTIONS, [props.queues.notifier.queueArn]);
    notifier.allow(['secretsmanager:GetSecretValue'], [props.webhookKeySecret.secretArn]);

    this.processes = processes;
    this.apis = [writeApi, readApi];

    this.writeApi = this.service(writeApi, 2);
    this.readApi = this.service(readApi, 2);
    this.scaleOnCpu(this.writeApi, { min: 2, max: 8 });
    this.scaleOnCpu(this.readApi, { min: 2, max: 8 });

    // One relay: the outbox holds every event durably, so while ECS replaces a failed relay
    // (about a minute) events wait rather than get lost; two would be safe (rows are claimed
    // with SKIP LOCKED) but would double the polling for no gain in delivery.
    this.relay = this.service(relay, 1);
    this.projector = this.service(projector, 1);
    this.scaleOnBacklog(this.projector, props.queues.projector, { min: 1, max: 4 });
    this.notifier = this.service(notifier, 1);
    // The notifier's in-flight messages are mostly webhooks waiting (hidden) for their next
    // retry, which need no task: it scales on what is ready to send.
    this.scaleOnBacklog(this.notifier, props.queues.notifier, { min: 1, max: 4 }, { countInFlight: false });
    this.imageProcessor = this.service(imageProcessor, 0);
    this.scaleOnBacklog(this.imageProcessor, props.queues.images, { min: 0, max: 10 });

    // Without these settings the APIs would refuse every token (and not start): fail the synth.
    this.node.addValidation({
      validate: () => (this.tokensAccepted ? [] : ['the APIs accept no tokens: call Services.acceptTokens']),
    });
  }

  /**
   * Gives both APIs the issuer whose tokens they accept and the browser origins they answer
   * CORS for. Set after construction: the audience and the page's origin come from resources
   * (the page's CloudFront distribution and app client) that are built after the load balancer.
   */
  acceptTokens(settings: TokenSettings): void {
    for (const api of this.apis) {
      api.container.addEnvironment('CATALOG_JWKS_URL', settings.jwksUrl);
      api.container.addEnvironment('CATALOG_JWT_ISSUER', settings.issuer);
      api.container.addEnvironment('CATALOG_JWT_AUDIENCE', settings.audience);
      api.container.addEnvironment('CATALOG_CORS_ORIGINS', settings.corsOrigins.join(','));
    }
    this.tokensAccepted = true;
  }

  private service(process: CatalogProcess, desiredCount: number): ecs.FargateService {
    return new ecs.FargateService(process, 'Service', {
      cluster: this.cluster,
      taskDefinition: process.taskDefinition,
      desiredCount,
      securityGroups: [process.securityGroup],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      propagateTags: ecs.PropagatedTagSource.SERVICE,
    });
  }

  private scaleOnCpu(service: ecs.FargateService, capacity: Capacity): void {
    service.autoScaleTaskCount({ minCapacity: capacity.min, maxCapacity: capacity.max })
      .scaleOnCpuUtilization('Cpu', {
        targetUtilizationPercent: 60,
        scaleOutCooldown: Duration.minutes(1),
        scaleInCooldown: Duration.minutes(5),
      });
  }

  private scaleOnBacklog(
    service: ecs.FargateService,
    queue: sqs.IQueue,
    capacity: Capacity,
    { countInFlight }: { countInFlight: boolean } = { countInFlight: true },
  ): void {
    const period = Duration.minutes(1);
    const visible = queue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' });
    const backlog = countInFlight
      ? new cloudwatch.MathExpression({
        label: 'Messages visible or in flight',
        expression: 'visible + inflight',
        usingMetrics: {
          visible,
          inflight: queue.metricApproximateNumberOfMessagesNotVisible({ period, statistic: 'Maximum' }),
        },
        period,
      })
      : visible;
    service.autoScaleTaskCount({ minCapacity: capacity.min, maxCapacity: capacity.max })
      .scaleOnMetric('Backlog', {
        metric: backlog,
        adjustmentType: applicationautoscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        scalingSteps: [
          { upper: 0, change: -1 },
          { lower: 1, change: +1 },
          { lower: 100, change: +2 },
          { lower: 1000, change: +4 },
        ],
        cooldown: Duration.minutes(1),
      });
  }

  private suppressObjectWildcard(process: CatalogProcess, ...buckets: s3.IBucket[]): void {
    NagSuppressions.addResourceSuppressions(process.role, [{
      id: 'AwsSolutions-IAM5',
      reason: 'Object keys are ids minted at upload time, so object actions are granted on every key of this '
        + 'one bucket (bucket/*), never on other buckets.',
      // The finding names the bucket's ARN (its export, across stacks) by the bucket's construct id.
      appliesTo: buckets.map((bucket) => ({ regex: `/^Resource::.*${bucket.node.id}[^/]*\\/\\*$/` })),
    }], true);
  }
}

