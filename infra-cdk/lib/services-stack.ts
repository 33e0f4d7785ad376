/**
 * CatalogServices: the stateless half, all from one container image: the ECS cluster and its
 * services, the load balancer with its web ACL, the API's CloudFront distribution, the seller
 * page (its bucket, distribution, app client and files), scaling, the nightly resync schedule,
 * the alarms and the operators' dashboard. Every task carries its telemetry collector
 * (observability.ts); traces go to X-Ray, metrics to CloudWatch beside AWS' own.
 *
 * The page and its app client live here, not with the user pool in the data stack: the page's
 * Content-Security-Policy names the API's distribution (in front of this stack's load
 * balancer), and the APIs' CORS origins and token audience name the page's distribution and
 * client, so the three must be in one stack. The page's bucket is the one resource here that is
 * retained: after tearing this stack down, delete it before deploying again (its name is global).
 * For the same reason the originals bucket's CORS, which names the page's origin, is written from
 * here (`UploadCors`, storage.ts), though the bucket is the data stack's.
 */
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { Alarms } from './alarms';
import { ApiCdn } from './api-cdn';
import { CatalogConfig } from './config';
import { CatalogDashboard } from './dashboard';
import { DataStack } from './data-stack';
import { ApiFirewall } from './firewall';
import { LoadBalancer } from './load-balancer';
import { metricsNamespace } from './observability';
import { ProcessContext } from './process';
import { CatalogResources, Naming } from './resources';
import { PreviousTable, ResyncSchedule } from './resync-schedule';
import { SellerPage } from './seller-page';
import { Services } from './services';
import { LOAD_BALANCER_LOG_PREFIX, UploadCors } from './storage';

export interface ServicesStackProps extends StackProps {
  readonly config: CatalogConfig;
  readonly resources: CatalogResources;
  readonly naming: Naming;
  readonly data: DataStack;
}

export class ServicesStack extends Stack {
  readonly services: Services;
  readonly loadBalancer: LoadBalancer;
  readonly api: ApiCdn;
  readonly firewall: ApiFirewall;
  readonly sellerPage: SellerPage;
  readonly uploadCors: UploadCors;
  readonly resync: ResyncSchedule;
  readonly alarms: Alarms;
  readonly dashboard: CatalogDashboard;

  constructor(scope: Construct, id: string, props: ServicesStackProps) {
    super(scope, id, props);
    const { config, data, resources, naming } = props;

    const repository = ecr.Repository.fromRepositoryName(this, 'Repository', config.ecrRepository);
    const context: ProcessContext = {
      vpc: data.network.vpc,
      image: ecs.ContainerImage.fromEcrRepository(repository, config.imageTag),
      resourcePrefix: naming.prefix,
      databaseSecret: data.database.secret,
      database: data.database.cluster,
      dataKeySecret: data.secrets.dataKeys,
      dataKeyKmsKey: data.secrets.dataKeysKey,
    };
    const queues = data.messaging.queues;
    const variantsBaseUrl = `https://${data.storage.distribution.distributionDomainName}`;

    this.services = new Services(this, 'Services', {
      ...context,
      originals: data.storage.originals,
      originalsKeyPrefix: resources.uploadEvents.keyPrefix,
      variants: data.storage.variants,
      variantsDistribution: data.storage.distribution,
      variantsBaseUrl,
      table: data.readModel.table,
      indexNames: resources.table.indexes.map((index) => index.name),
      bus: data.messaging.bus,
      queues,
      webhookKeySecret: data.secrets.webhookKeys,
    });

    this.loadBalancer = new LoadBalancer(this, 'LoadBalancer', {
      vpc: data.network.vpc,
      writeApi: this.services.writeApi,
      readApi: this.services.readApi,
      accessLogs: { bucket: data.storage.logs, prefix: LOAD_BALANCER_LOG_PREFIX },
      certificateArn: config.certificateArn,
    });

    this.api = new ApiCdn(this, 'Api', {
      loadBalancer: this.loadBalancer.alb,
      originHeader: this.loadBalancer.originHeader,
      originDomain: config.apiOriginDomain,
      logs: data.storage.logs,
      namePrefix: naming.prefix,
    });
    this.services.servedAt(this.api.url);
    this.firewall = new ApiFirewall(this, 'Firewall', {
      loadBalancer: this.loadBalancer.alb,
      rateLimit: config.wafRateLimit,
      namePrefix: naming.prefix,
    });

    this.sellerPage = new SellerPage(this, 'SellerPage', {
      bucketName: naming.name(resources.buckets.sellerPage),
      logs: data.storage.logs,
      auth: data.auth,
      apiUrl: this.api.url,
      variantsUrl: variantsBaseUrl,
      uploadUrl: `https://${data.storage.originals.bucketRegionalDomainName}`,
      extraCallbackUrls: config.pageCallbackUrls,
      namePrefix: naming.prefix,
    });
    this.uploadCors = new UploadCors(this, 'UploadCors', {
      bucket: data.storage.originals,
      origins: [this.sellerPage.origin, ...config.uploadOrigins],
    });
    this.services.acceptTokens({
      jwksUrl: data.auth.jwksUrl,
      issuer: data.auth.issuer,
      audience: this.sellerPage.client.userPoolClientId,
      corsOrigins: [this.sellerPage.origin, ...config.corsOrigins],
    });

    this.resync = new ResyncSchedule(this, 'Resync', {
      ...context,
      cluster: this.services.cluster,
      table: data.readModel.table,
      previousTable: this.previousTable(resources, naming),
      queues,
    });

    const catalogNamespace = metricsNamespace(naming.prefix);
    const apis = { WriteApi: this.loadBalancer.writeTargets, ReadApi: this.loadBalancer.readTargets };
    this.alarms = new Alarms(this, 'Alarms', {
      queues,
      relayLogs: this.services.processes['relay']!.logGroup,
      namePrefix: naming.prefix,
      loadBalancer: this.loadBalancer.alb,
      targetGroups: { ...apis, Uploads: this.loadBalancer.uploadTargets },
      latencyTargets: apis,
      catalogNamespace,
      database: data.database.cluster,
      table: data.readModel.table,
      resync: {
        cluster: this.services.cluster,
        taskDefinition: this.resync.process.taskDefinition,
        logs: this.resync.process.logGroup,
      },
      email: config.alarmEmail,
    });
    this.dashboard = new CatalogDashboard(this, 'Dashboard', {
      dashboardName: naming.name('catalog'),
      catalogNamespace,
      loadBalancer: this.loadBalancer.alb,
      apis: { ...apis, Uploads: this.loadBalancer.uploadTargets },
      queues,
      database: data.database.cluster,
      table: data.readModel.table,
      distributions: { Api: this.api.distribution, Variants: data.storage.distribution, Page: this.sellerPage.distribution },
      cacheHitRates: ['Api', 'Variants'],
    });

    new CfnOutput(this, 'ApiUrl', {
      value: this.api.url,
      description: 'The API (both sides) for the seller page and sellers\' scripts, through CloudFront',
    });
    new CfnOutput(this, 'LoadBalancerDnsName', {
      value: this.loadBalancer.alb.loadBalancerDnsName,
      description: 'The API\'s origin: point apiOriginDomain (a name the certificate covers) at it; it refuses direct requests',
    });
    new CfnOutput(this, 'SellerPageUrl', {
      value: this.sellerPage.url,
      description: 'The seller web page',
    });
    // What the deploy pipeline's smoke test asks the load balancer: both APIs' targets healthy on /readyz.
    new CfnOutput(this, 'WriteApiTargetGroupArn', {
      value: this.loadBalancer.writeTargets.targetGroupArn,
      description: 'The write API\'s targets (aws elbv2 describe-target-health): healthy means /readyz answers 200',
    });
    new CfnOutput(this, 'ReadApiTargetGroupArn', {
      value: this.loadBalancer.readTargets.targetGroupArn,
      description: 'The read API\'s targets (aws elbv2 describe-target-health): healthy means /readyz answers 200',
    });
    new CfnOutput(this, 'UserPoolClientId', {
      value: this.sellerPage.client.userPoolClientId,
      description: "The seller page's Cognito app client (CATALOG_JWT_AUDIENCE of the APIs)",
    });
    this.operatorTaskOutputs();
  }

  /**
   * The previous read-model table, while resources.json lists one, named rather than
   * referenced: a reference would make CatalogData export its ARN to this stack, and the later
   * change that drops `previous_table` would then be refused (CloudFormation keeps an export
   * that a deployed stack imports, and CatalogData deploys first).
   */
  private previousTable(resources: CatalogResources, naming: Naming): PreviousTable | undefined {
    const spec = resources.previousTable;
    if (spec === undefined) {
      return undefined;
    }
    return {
      table: dynamodb.TableV2.fromTableName(this, 'PreviousTable', naming.name(spec.name)),
      indexNames: spec.indexes.map((index) => index.name),
    };
  }

  /**
   * What `aws ecs run-task` needs to run a one-off `catalog` command: the cluster; the resync
   * task definition and its security group (`redrive <role>`, `quarantined [--release]`,
   * `resync`); and the write API's (`product transfer`, a command of the write side, with the
   * write API's role and its access to the event store). The subnets are CatalogData's
   * `TaskSubnets`: an output may not re-export another stack's value.
   */
  private operatorTaskOutputs(): void {
    new CfnOutput(this, 'ClusterName', {
      value: this.services.cluster.clusterName,
      description: 'The ECS cluster of the catalog processes (aws ecs run-task --cluster)',
    });
    new CfnOutput(this, 'OperatorTaskDefinition', {
      value: this.resync.process.taskDefinition.family,
      description: 'The resync task definition, for one-off commands such as catalog redrive (aws ecs run-task --task-definition)',
    });
    new CfnOutput(this, 'OperatorSecurityGroup', {
      value: this.resync.process.securityGroup.securityGroupId,
      description: 'The security group of one-off commands (awsvpcConfiguration securityGroups)',
    });
    // The services by part, for pausing and resuming them (a point-in-time restore) and for
    // `aws ecs wait services-stable`.
    const services: [string, string, ecs.FargateService][] = [
      ['WriteApi', 'write API', this.services.writeApi],
      ['ReadApi', 'read API', this.services.readApi],
      ['Relay', 'relay', this.services.relay],
      ['Projector', 'projector', this.services.projector],
      ['ImageProcessor', 'image processor', this.services.imageProcessor],
      ['Notifier', 'notifier', this.services.notifier],
    ];
    for (const [id, part, service] of services) {
      new CfnOutput(this, `${id}ServiceName`, {
        value: service.serviceName,
        description: `The ECS service of the ${part} (aws ecs update-service --service)`,
      });
    }
    const writeApi = this.services.processes['write-api']!;
    new CfnOutput(this, 'WriteApiTaskDefinition', {
      value: writeApi.taskDefinition.family,
      description: 'The write API\'s task definition, for write-side one-off commands such as catalog product transfer '
        + '(aws ecs run-task --task-definition, with a command override)',
    });
    new CfnOutput(this, 'WriteApiSecurityGroup', {
      value: writeApi.securityGroup.securityGroupId,
      description: 'The security group of write-side one-off commands (awsvpcConfiguration securityGroups)',
    });
  }
}
