/**
 * The event store: Aurora PostgreSQL Serverless v2, a single writer in the isolated subnets.
 *
 * The credentials are generated into a Secrets Manager secret (host, port, dbname, username,
 * password: the tasks read each field as a PG* variable) and rotated by the single-user
 * rotation Lambda. The minimum capacity stays at 0.5 ACU rather than 0 (auto-pause): the relay
 * keeps a connection open and polls, so the cluster would never pause anyway.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

export const DATABASE_NAME = 'catalog';

/** The writer's capacity range in ACUs (the alarms watch the top of it). */
export const DATABASE_CAPACITY = { min: 0.5, max: 4 } as const;

export interface DatabaseProps {
  readonly vpc: ec2.IVpc;
}

export class Database extends Construct {
  readonly cluster: rds.DatabaseCluster;
  readonly secret: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);

    this.cluster = new rds.DatabaseCluster(this, 'Cluster', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({
        version: rds.AuroraPostgresEngineVersion.VER_17_7,
      }),
      credentials: rds.Credentials.fromGeneratedSecret('catalog'),
      defaultDatabaseName: DATABASE_NAME,
      writer: rds.ClusterInstance.serverlessV2('Writer'),
      serverlessV2MinCapacity: DATABASE_CAPACITY.min,
      serverlessV2MaxCapacity: DATABASE_CAPACITY.max,
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      storageEncrypted: true,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      backup: { retention: Duration.days(14), preferredWindow: '03:30-04:30' },
      preferredMaintenanceWindow: 'sun:05:00-sun:06:00',
      cloudwatchLogsExports: ['postgresql'],
      copyTagsToSnapshot: true,
    });

    const secret = this.cluster.secret;
    if (secret === undefined) {
      throw new Error('the cluster was created without a generated secret');
    }
    this.secret = secret;

    NagSuppressions.addResourceSuppressions(this.cluster, [{
      id: 'AwsSolutions-RDS6',
      reason: 'The processes authenticate with the password from the rotated Secrets Manager secret (PG* '
        + 'variables); IAM tokens would need token refresh in every process and are not used.',
    }]);

    this.cluster.addRotationSingleUser({
      automaticallyAfter: Duration.days(30),
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    });
  }
}
