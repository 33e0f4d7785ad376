/**
 * The event store: Aurora PostgreSQL Serverless v2 in the isolated subnets, a writer in the
 * first AZ and a reader in the second. The reader is in promotion tier 1, so it scales with the
 * writer (a Serverless v2 reader in tier 0 or 1 follows the writer's capacity) and is warm to take
 * over: when the writer's AZ fails, Aurora promotes it, and the cluster endpoint (the `host` of
 * the secret, which every process connects to) points at it within about a minute. Nothing
 * reads from it meanwhile; it is there to fail over to.
 *
 * Backups: Aurora's own continuous backups (point-in-time restore to any second of the last 14
 * days) and a daily snapshot into the backup vault (backup.ts). Backtrack is Aurora MySQL's
 * alone.
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

/** The subnets of the cluster: one isolated subnet per AZ. */
const DATABASE_SUBNETS: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };

export class Database extends Construct {
  readonly cluster: rds.DatabaseCluster;
  readonly secret: secretsmanager.ISecret;
  /** The cluster's subnet group (one isolated subnet per AZ): where a restored cluster goes too. */
  readonly subnetGroup: rds.ISubnetGroup;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);

    // The writer in the first AZ, the reader in the second: Aurora would otherwise pick an AZ for
    // each, and might pick one for both. The instances' ids name their AZ, not a role (a failover
    // swaps the roles). The writer of deployments made before the reader ('Writer', its AZ left to
    // Aurora) cannot be given an AZ in place (RDS refuses the change): it is replaced by
    // 'InstanceAz1', and Aurora fails over once when CloudFormation deletes it (README.md, Deploy).
    const [writerAz, readerAz] = props.vpc.selectSubnets(DATABASE_SUBNETS).availabilityZones;
    if (writerAz === undefined || readerAz === undefined) {
      throw new Error('the database needs isolated subnets in two AZs');
    }

    this.cluster = new rds.DatabaseCluster(this, 'Cluster', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({
        version: rds.AuroraPostgresEngineVersion.VER_17_7,
      }),
      credentials: rds.Credentials.fromGeneratedSecret('catalog'),
      defaultDatabaseName: DATABASE_NAME,
      writer: rds.ClusterInstance.serverlessV2('InstanceAz1', { availabilityZone: writerAz }),
      // Tier 1 (scaleWithWriter): the failover target, at the writer's capacity.
      readers: [rds.ClusterInstance.serverlessV2('InstanceAz2', { availabilityZone: readerAz, scaleWithWriter: true })],
      serverlessV2MinCapacity: DATABASE_CAPACITY.min,
      serverlessV2MaxCapacity: DATABASE_CAPACITY.max,
      vpc: props.vpc,
      vpcSubnets: DATABASE_SUBNETS,
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
    // The cluster's own, as the construct made it (its name is what a point-in-time restore needs).
    const subnetGroup = this.cluster.node.tryFindChild('Subnets');
    if (!(subnetGroup instanceof rds.SubnetGroup)) {
      throw new Error('the cluster has no subnet group of its own');
    }
    this.subnetGroup = subnetGroup;

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
