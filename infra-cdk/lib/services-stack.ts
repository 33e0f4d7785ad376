/**
 * CatalogServices: the stateless half, all from one container image: the ECS cluster and its
 * services, the load balancer, scaling, the nightly resync schedule and the alarms.
 */
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { Alarms } from './alarms';
import { CatalogConfig } from './config';
import { DataStack } from './data-stack';
import { LoadBalancer } from './load-balancer';
import { ProcessContext } from './process';
import { CatalogResources, Naming } from './resources';
import { ResyncSchedule } from './resync-schedule';
import { Services } from './services';
import { LOAD_BALANCER_LOG_PREFIX } from './storage';

export interface ServicesStackProps extends StackProps {
  readonly config: CatalogConfig;
  readonly resources: CatalogResources;
  readonly naming: Naming;
  readonly data: DataStack;
}

export class ServicesStack extends Stack {
  readonly services: Services;
  readonly loadBalancer: LoadBalancer;
  readonly resync: ResyncSchedule;
  readonly alarms: Alarms;

  constructor(scope: Construct, id: string, props: ServicesStackProps) {
    super(scope, id, props);
    const { config, data, resources } = props;

    const repository = ecr.Repository.fromRepositoryName(this, 'Repository', config.ecrRepository);
    const context: ProcessContext = {
      vpc: data.network.vpc,
      image: ecs.ContainerImage.fromEcrRepository(repository, config.imageTag),
      resourcePrefix: props.naming.prefix,
      databaseSecret: data.database.secret,
      database: data.database.cluster,
    };
    const queues = data.messaging.queues;

    this.services = new Services(this, 'Services', {
      ...context,
      originals: data.storage.originals,
      variants: data.storage.variants,
      variantsBaseUrl: `https://${data.storage.distribution.distributionDomainName}`,
      table: data.readModel.table,
      indexNames: resources.table.indexes.map((index) => index.name),
      bus: data.messaging.bus,
      queues: { projector: queues.projector.queue, images: queues.images.queue, notifier: queues.notifier.queue },
      jwtSecret: data.secrets.jwt,
      webhookSecret: data.secrets.webhook,
    });

    this.loadBalancer = new LoadBalancer(this, 'LoadBalancer', {
      vpc: data.network.vpc,
      writeApi: this.services.writeApi,
      readApi: this.services.readApi,
      accessLogs: { bucket: data.storage.logs, prefix: LOAD_BALANCER_LOG_PREFIX },
      certificateArn: config.certificateArn,
    });

    this.resync = new ResyncSchedule(this, 'Resync', {
      ...context,
      cluster: this.services.cluster,
      table: data.readModel.table,
    });

    this.alarms = new Alarms(this, 'Alarms', {
      queues,
      loadBalancer: this.loadBalancer.alb,
      targetGroups: { WriteApi: this.loadBalancer.writeTargets, ReadApi: this.loadBalancer.readTargets },
      email: config.alarmEmail,
    });

    new CfnOutput(this, 'ApiUrl', {
      value: `${config.certificateArn === undefined ? 'http' : 'https'}://${this.loadBalancer.alb.loadBalancerDnsName}`,
      description: 'The API (point a DNS name covered by the certificate at the load balancer for HTTPS)',
    });
  }
}
