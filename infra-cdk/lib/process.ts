/**
 * One `catalog` subcommand as a Fargate task definition: the shared image, JSON logs to its own
 * log group, the resource prefix, and (when it uses the event store) the name of the cluster's
 * secret, which the process reads itself and reads again every minute: the rotation changes
 * the password under running tasks, and new connections follow it without a restart. No
 * password ever sits in a task definition or an environment.
 *
 * Every task also runs the telemetry collector beside the process (observability.ts): the
 * process serves its metrics on the task's port 9464, which only the collector reads, and sends
 * its traces to the collector on loopback. A worker (a loop with no port to probe) is checked by
 * ECS with `catalog alive`, which reads its loops' heartbeats from those metrics.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { LIVENESS_CHECK, metricsNamespace, TelemetryCollector, telemetryEnvironment } from './observability';

/** What every process shares. */
export interface ProcessContext {
  readonly vpc: ec2.IVpc;
  readonly image: ecs.ContainerImage;
  /** `CATALOG_RESOURCE_PREFIX` of every process. */
  readonly resourcePrefix: string;
  /** The event store's credentials (host, port, dbname, username, password). */
  readonly databaseSecret: secretsmanager.ISecret;
  /** The event store's connections, to open its port to the processes that use it. */
  readonly database: ec2.IConnectable;
  /** What seals the photos' data keys (personal fields), and the KMS key it is encrypted under. */
  readonly dataKeySecret: secretsmanager.ISecret;
  readonly dataKeyKmsKey: kms.IKey;
}

export interface ProcessProps {
  /** The `catalog` subcommand. */
  readonly command: string;
  readonly cpu: number;
  readonly memoryLimitMiB: number;
  /** Whether the process uses the event store (Postgres). */
  readonly usesEventStore: boolean;
  readonly port?: number;
  /** Whether ECS checks the process with `catalog alive` (the workers: their loops' heartbeats). */
  readonly livenessCheck?: boolean;
  readonly environment?: Readonly<Record<string, string>>;
  readonly secrets?: Readonly<Record<string, ecs.Secret>>;
}

export class CatalogProcess extends Construct {
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly securityGroup: ec2.SecurityGroup;
  readonly container: ecs.ContainerDefinition;
  /** Where the process's JSON log lines go (metric filters read them). */
  readonly logGroup: logs.LogGroup;
  /** The collector beside it: its metrics to CloudWatch, its traces to X-Ray. */
  readonly telemetry: TelemetryCollector;

  constructor(scope: Construct, id: string, context: ProcessContext, props: ProcessProps) {
    super(scope, id);

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryLimitMiB,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.container = this.taskDefinition.addContainer('catalog', {
      image: context.image,
      entryPoint: ['catalog'],
      command: [props.command],
      environment: {
        CATALOG_LOG_FORMAT: 'json',
        CATALOG_RESOURCE_PREFIX: context.resourcePrefix,
        ...telemetryEnvironment(props.command),
        ...(props.usesEventStore ? {
          CATALOG_DATABASE_SECRET: context.databaseSecret.secretArn,
          CATALOG_DATA_KEY_SECRET: context.dataKeySecret.secretArn,
          PGSSLMODE: 'require',
        } : {}),
        ...props.environment,
      },
      secrets: { ...props.secrets },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: props.command }),
      portMappings: props.port === undefined ? [] : [{ containerPort: props.port }],
      healthCheck: props.livenessCheck === true ? LIVENESS_CHECK : undefined,
      // SIGTERM drains in-flight requests and messages; Fargate allows at most 120 s.
      stopTimeout: Duration.seconds(120),
    });

    this.telemetry = new TelemetryCollector(this, 'Telemetry', {
      taskDefinition: this.taskDefinition,
      app: this.container,
      part: props.command,
      namespace: metricsNamespace(context.resourcePrefix),
      logGroup: this.logGroup,
    });

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: context.vpc,
      description: `catalog ${props.command}`,
      allowAllOutbound: true,
    });
    if (props.usesEventStore) {
      this.allow(['secretsmanager:GetSecretValue'], [context.databaseSecret.secretArn, context.dataKeySecret.secretArn]);
      // Secrets Manager decrypts the data-key secret with its KMS key on the caller's behalf.
      this.allow(['kms:Decrypt'], [context.dataKeyKmsKey.keyArn]);
      const port = context.database.connections.defaultPort;
      if (port === undefined) {
        throw new Error('the event store has no default port');
      }
      for (const databaseGroup of context.database.connections.securityGroups) {
        // A "remote" rule: it lives in this process's stack, so the data stack needs no
        // reference back to the services stack.
        databaseGroup.addIngressRule(this.securityGroup, port, `catalog ${props.command}`, true);
      }
    }

    NagSuppressions.addResourceSuppressions(this.taskDefinition, [{
      id: 'AwsSolutions-ECS2',
      reason: 'The environment holds only non-secret settings (listen addresses, resource prefix, log format, '
        + 'URLs, and the ARNs of secrets): the processes read the database credentials and the webhook secrets key '
        + 'from Secrets Manager themselves, and verify tokens with the user pool\'s public keys.',
    }]);
    NagSuppressions.addResourceSuppressions(this.taskDefinition.obtainExecutionRole(), [{
      id: 'AwsSolutions-IAM5',
      reason: 'The execution role as ECS needs it: ecr:GetAuthorizationToken has no resource-level permissions.',
      appliesTo: ['Resource::*'],
    }], true);
  }

  /** The role the process's AWS calls are made with. */
  get role(): iam.IRole {
    return this.taskDefinition.taskRole;
  }

  /** Grants exactly these actions on these resources to the process (under `conditions`, if any). */
  allow(actions: readonly string[], resources: readonly string[], conditions?: Record<string, unknown>): void {
    this.taskDefinition.addToTaskRolePolicy(new iam.PolicyStatement({
      actions: [...actions],
      resources: [...resources],
      conditions,
    }));
  }
}
