/**
 * The VPC: two AZs, and nothing on the tasks' way out that one AZ takes down.
 *
 * Each AZ has its own NAT gateway, and the private subnets of an AZ route through their own:
 * when an AZ fails, the tasks ECS starts in the other one still reach SQS, EventBridge,
 * Secrets Manager, ECR, CloudWatch Logs, X-Ray, Cognito's keys, the public ECR gallery (the
 * telemetry collector's image), CloudFront's API and the sellers' webhook servers. A NAT per AZ
 * was chosen over interface endpoints by cost (README.md, "Surviving an Availability Zone"): the
 * seven endpoints would cost about three times the second NAT at rest, and the notifier's
 * webhooks, Cognito's keys, CloudFront and the public gallery need the internet anyway. S3 and
 * DynamoDB keep their gateway endpoints (free, and they keep image and read-model traffic, and
 * the image layers ECR serves from S3, off the NATs). Flow logs for forensics.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';

/** The AZs the VPC spans; every tier (public, app, data) has a subnet in each. */
export const AVAILABILITY_ZONES = 2;

export class Network extends Construct {
  readonly vpc: ec2.Vpc;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: AVAILABILITY_ZONES,
      // One per AZ: the app subnets of each AZ route through the NAT gateway of their own AZ.
      natGateways: AVAILABILITY_ZONES,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        { name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
    });

    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });
  }
}
