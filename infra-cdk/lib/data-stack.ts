/**
 * CatalogData: everything that holds state or a name other parts depend on (network, event
 * store, buckets and CDN, read model, event bus and queues, keys, the sellers' user pool). It
 * changes rarely and is protected from deletion; the services stack can be torn down and
 * redeployed (see its one retained bucket in services-stack.ts).
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { SellerAuth } from './auth';
import { CatalogConfig } from './config';
import { Database } from './database';
import { Messaging } from './messaging';
import { Network } from './network';
import { ReadModel } from './read-model';
import { CatalogResources, Naming } from './resources';
import { ServiceSecrets } from './secrets';
import { Storage } from './storage';

export interface DataStackProps extends StackProps {
  readonly config: CatalogConfig;
  readonly resources: CatalogResources;
  readonly naming: Naming;
}

export class DataStack extends Stack {
  readonly network: Network;
  readonly database: Database;
  readonly storage: Storage;
  readonly readModel: ReadModel;
  readonly messaging: Messaging;
  readonly secrets: ServiceSecrets;
  readonly auth: SellerAuth;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    const { resources, naming } = props;

    this.network = new Network(this, 'Network');
    this.database = new Database(this, 'Database', { vpc: this.network.vpc });
    this.storage = new Storage(this, 'Storage', {
      originalsBucketName: naming.name(resources.buckets.originals),
      variantsBucketName: naming.name(resources.buckets.variants),
      unconfirmedUploadTag: resources.buckets.unconfirmedUploadTag,
      uploadOrigins: props.config.uploadOrigins,
    });
    this.readModel = new ReadModel(this, 'ReadModel', { resources, naming });
    this.messaging = new Messaging(this, 'Messaging', { resources, naming });
    this.secrets = new ServiceSecrets(this, 'Secrets', { naming });
    this.auth = new SellerAuth(this, 'Auth', { naming });

    new CfnOutput(this, 'VariantsBaseUrl', {
      value: `https://${this.storage.distribution.distributionDomainName}`,
      description: 'CATALOG_VARIANTS_BASE_URL of the read API and the notifier',
    });
    new CfnOutput(this, 'TaskSubnets', {
      value: this.network.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds.join(','),
      description: 'The subnets of the catalog tasks, for one-off commands (awsvpcConfiguration subnets)',
    });
    new CfnOutput(this, 'UserPoolId', {
      value: this.auth.userPool.userPoolId,
      description: "The sellers' Cognito user pool",
    });
    new CfnOutput(this, 'HostedUiUrl', {
      value: this.auth.hostedUiUrl,
      description: 'Where sellers sign up and sign in (Cognito hosted UI)',
    });
  }
}
