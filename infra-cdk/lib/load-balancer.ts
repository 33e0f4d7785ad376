/**
 * The public entry: one ALB, two target groups. The write API takes every method that changes
 * something plus `GET /v1/photos/{id}/history` (it reads the event store); the read API takes
 * every other GET. Both are health-checked on `/readyz`; `/metrics` is not served to the
 * internet. With a certificate the ALB speaks HTTPS and redirects HTTP; without one, HTTP only.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Duration } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { READ_API_PORT, WRITE_API_PORT } from './services';

/** The methods routed to the write API (GET and HEAD go to the read API). */
export const WRITE_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'] as const;
/** The one GET that the write API answers. */
export const HISTORY_PATH = '/v1/photos/*/history';

export interface LoadBalancerProps {
  readonly vpc: ec2.IVpc;
  readonly writeApi: ecs.FargateService;
  readonly readApi: ecs.FargateService;
  readonly accessLogs: { readonly bucket: s3.IBucket; readonly prefix: string };
  /** An ACM certificate in the stack's region; without it the ALB serves HTTP only. */
  readonly certificateArn?: string;
}

export class LoadBalancer extends Construct {
  readonly alb: elbv2.ApplicationLoadBalancer;
  readonly writeTargets: elbv2.ApplicationTargetGroup;
  readonly readTargets: elbv2.ApplicationTargetGroup;

  constructor(scope: Construct, id: string, props: LoadBalancerProps) {
    super(scope, id);

    this.alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      dropInvalidHeaderFields: true,
    });
    // Set as attributes: `logAccessLogs` needs a region fixed at synth time; the bucket's policy
    // (storage.ts) already admits the load balancer's log delivery.
    this.alb.setAttribute('access_logs.s3.enabled', 'true');
    this.alb.setAttribute('access_logs.s3.bucket', props.accessLogs.bucket.bucketName);
    this.alb.setAttribute('access_logs.s3.prefix', props.accessLogs.prefix);

    this.writeTargets = this.targetGroup('WriteApi', props.vpc, props.writeApi, WRITE_API_PORT);
    this.readTargets = this.targetGroup('ReadApi', props.vpc, props.readApi, READ_API_PORT);

    const listener = props.certificateArn === undefined
      ? this.httpOnly()
      : this.https(props.certificateArn);

    listener.addAction('HideMetrics', {
      priority: 1,
      conditions: [elbv2.ListenerCondition.pathPatterns(['/metrics'])],
      action: elbv2.ListenerAction.fixedResponse(404),
    });
    listener.addAction('History', {
      priority: 10,
      conditions: [
        elbv2.ListenerCondition.httpRequestMethods(['GET']),
        elbv2.ListenerCondition.pathPatterns([HISTORY_PATH]),
      ],
      action: elbv2.ListenerAction.forward([this.writeTargets]),
    });
    listener.addAction('Writes', {
      priority: 20,
      conditions: [elbv2.ListenerCondition.httpRequestMethods([...WRITE_METHODS])],
      action: elbv2.ListenerAction.forward([this.writeTargets]),
    });

    NagSuppressions.addResourceSuppressions(this.alb, [{
      id: 'AwsSolutions-EC23',
      reason: 'An internet-facing API: the load balancer accepts its listener ports from anywhere; the tasks '
        + 'behind it accept traffic only from the load balancer.',
    }], true);
  }

  private targetGroup(id: string, vpc: ec2.IVpc, service: ecs.FargateService, port: number): elbv2.ApplicationTargetGroup {
    return new elbv2.ApplicationTargetGroup(this, id, {
      vpc,
      port,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      targets: [service.loadBalancerTarget({ containerName: 'catalog', containerPort: port })],
      healthCheck: {
        path: '/readyz',
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
      // The APIs drain in-flight requests on SIGTERM; requests are short.
      deregistrationDelay: Duration.seconds(30),
    });
  }

  /** HTTP on 80, default to the read API. */
  private httpOnly(): elbv2.ApplicationListener {
    const listener = this.alb.addListener('Http', {
      port: 80,
      protocol: elbv2.ApplicationProtocol.HTTP,
      defaultAction: elbv2.ListenerAction.forward([this.readTargets]),
    });
    NagSuppressions.addResourceSuppressions(listener, [{
      id: 'AwsSolutions-ELB1',
      reason: 'No certificateArn was given at synth time, so there is no certificate to serve HTTPS with; '
        + 'deploy with -c certificateArn=... for HTTPS (HTTP then only redirects).',
    }]);
    return listener;
  }

  /** HTTPS on 443, default to the read API; HTTP on 80 only redirects. */
  private https(certificateArn: string): elbv2.ApplicationListener {
    this.alb.addRedirect({ sourcePort: 80, targetPort: 443 });
    return this.alb.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [elbv2.ListenerCertificate.fromArn(certificateArn)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      defaultAction: elbv2.ListenerAction.forward([this.readTargets]),
    });
  }
}
