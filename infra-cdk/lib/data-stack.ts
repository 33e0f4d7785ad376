/**
 * CatalogData: everything that holds state or a name other parts depend on (network, event
 * store, buckets and CDN, read model, event bus and queues, keys, the sellers' user pool, the
 * backup vault and plan). It changes rarely and is protected from deletion; the services stack
 * can be torn down and redeployed (see its one retained bucket in services-stack.ts).
 *
 * While the read model is rebuilt into a new table (resources.json lists a `previous_table`) it
 * also holds the one-off `catalog rebuild` task definition (rebuild-task.ts says why), and so
 * follows the image tag until that entry is dropped.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { SellerAuth } from './auth';
import { Backups } from './backup';
import { CatalogConfig } from './config';
import { Database } from './database';
import { Messaging } from './messaging';
import { Network } from './network';
import { ReadModel } from './read-model';
import { RebuildTask } from './rebuild-task';
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
  /** The daily backups of the event store and the originals bucket (backup.ts). */
  readonly backups: Backups;
  /** The one-off `catalog rebuild`, while resources.json lists a `previous_table`. */
  readonly rebuild?: RebuildTask;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    const { resources, naming } = props;

    this.network = new Network(this, 'Network');
    this.database = new Database(this, 'Database', { vpc: this.network.vpc });
    this.storage = new Storage(this, 'Storage', {
      originalsBucketName: naming.name(resources.buckets.originals),
      variantsBucketName: naming.name(resources.buckets.variants),
      unconfirmedUploadTag: resources.buckets.unconfirmedUploadTag,
    });
    this.readModel = new ReadModel(this, 'ReadModel', { resources, naming });
    this.messaging = new Messaging(this, 'Messaging', { resources, naming });
    this.secrets = new ServiceSecrets(this, 'Secrets', { naming });
    this.auth = new SellerAuth(this, 'Auth', {
      naming,
      selfSignUp: props.config.selfSignUp,
      sesEmail: props.config.sesEmail,
    });
    this.backups = new Backups(this, 'Backups', {
      naming,
      database: this.database.cluster,
      originals: this.storage.originals,
    });
    this.rebuild = this.rebuildTask(props);

    new CfnOutput(this, 'VariantsBaseUrl', {
      value: `https://${this.storage.distribution.distributionDomainName}`,
      description: 'CATALOG_VARIANTS_BASE_URL of the read API and the notifier',
    });
    new CfnOutput(this, 'TaskSubnets', {
      value: this.network.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds.join(','),
      description: 'The subnets of the catalog tasks, for one-off commands (awsvpcConfiguration subnets)',
    });
    new CfnOutput(this, 'DatabaseClusterIdentifier', {
      value: this.database.cluster.clusterIdentifier,
      description: 'The Aurora cluster of the event store (aws rds restore-db-cluster-to-point-in-time --source-db-cluster-identifier)',
    });
    new CfnOutput(this, 'DatabaseSubnetGroup', {
      value: this.database.subnetGroup.subnetGroupName,
      description: 'The subnet group of the event store, for a restored cluster (--db-subnet-group-name)',
    });
    new CfnOutput(this, 'DatabaseSecurityGroup', {
      value: this.database.cluster.connections.securityGroups.map((group) => group.securityGroupId).join(','),
      description: 'The security group of the event store, for a restored cluster (--vpc-security-group-ids)',
    });
    new CfnOutput(this, 'DatabaseSecretArn', {
      value: this.database.secret.secretArn,
      description: 'The secret the processes connect with (host, port, dbname, username, password)',
    });
    new CfnOutput(this, 'BackupVaultName', {
      value: this.backups.vault.backupVaultName,
      description: 'The vault of the daily backups of the event store and the originals bucket (35 days)',
    });
    new CfnOutput(this, 'BackupRoleArn', {
      value: this.backups.role.roleArn,
      description: 'The role AWS Backup backs up and restores with (aws backup start-restore-job --iam-role-arn)',
    });
    new CfnOutput(this, 'EventBusArn', {
      value: this.messaging.bus.eventBusArn,
      description: 'The catalog\'s event bus (aws events start-replay --destination Arn)',
    });
    new CfnOutput(this, 'EventArchiveArn', {
      value: this.messaging.archive.archiveArn,
      description: 'Every catalog event of the last 30 days (aws events start-replay --event-source-arn)',
    });
    new CfnOutput(this, 'UserPoolId', {
      value: this.auth.userPool.userPoolId,
      description: "The sellers' Cognito user pool",
    });
    new CfnOutput(this, 'HostedUiUrl', {
      value: this.auth.hostedUiUrl,
      description: props.config.selfSignUp
        ? 'Where sellers sign up and sign in (Cognito hosted UI)'
        : 'Where sellers sign in (Cognito hosted UI); an operator invites them',
    });
  }

  /** The rebuild task and what `aws ecs run-task` needs of it, while there is a previous table. */
  private rebuildTask({ config, resources, naming }: DataStackProps): RebuildTask | undefined {
    const previousTable = this.readModel.previousTable;
    if (previousTable === undefined || resources.previousTable === undefined) {
      return undefined;
    }
    const repository = ecr.Repository.fromRepositoryName(this, 'Repository', config.ecrRepository);
    const rebuild = new RebuildTask(this, 'Rebuild', {
      vpc: this.network.vpc,
      image: ecs.ContainerImage.fromEcrRepository(repository, config.imageTag),
      resourcePrefix: naming.prefix,
      databaseSecret: this.database.secret,
      database: this.database.cluster,
      dataKeySecret: this.secrets.dataKeys,
      dataKeyKmsKey: this.secrets.dataKeysKey,
      table: this.readModel.table,
      previousTable: { table: previousTable, indexNames: resources.previousTable.indexes.map((index) => index.name) },
    });
    new CfnOutput(this, 'RebuildTaskDefinition', {
      value: rebuild.process.taskDefinition.family,
      description: 'catalog rebuild, run once on the services\' cluster before they switch tables (aws ecs run-task --task-definition)',
    });
    new CfnOutput(this, 'RebuildSecurityGroup', {
      value: rebuild.process.securityGroup.securityGroupId,
      description: 'The security group of catalog rebuild (awsvpcConfiguration securityGroups)',
    });
    return rebuild;
  }
}
