/**
 * The API's origin: one ALB, two target groups. The write API takes every method that changes
 * something plus `GET /v1/photos/{id}/history` (it reads the event store), and the CORS
 * preflights of those; the read API takes every other GET (and preflight). Both are
 * health-checked on `/readyz`; `/metrics` is not served to the internet. With a certificate
 * the ALB speaks HTTPS and redirects HTTP; without one (a development deployment: config.ts
 * refuses it otherwise), HTTP only.
 *
 * The write API's streamed uploads (`POST /v1/photos/upload`, up to 25 MiB sent through the
 * request) go to a third target group of the same service: their time is the client's upload,
 * seconds or minutes, and in the write API's own group they would make its p99 latency (the
 * alarm on it, alarms.ts) say nothing about the API's other calls. Only the API port is ever a
 * target: the processes' metrics port (observability.ts) is read inside each task, never here.
 *
 * Clients reach the ALB only through the API's CloudFront distribution (api-cdn.ts), which adds
 * a secret header to every request it forwards: every forwarding rule requires that header,
 * and anything without it gets `403`. A header rather than CloudFront's origin-facing prefix
 * list in the security group: the prefix list admits every CloudFront distribution, anyone's,
 * so it would not prove the request came through ours; its id differs per region (a lookup at
 * synth time, which this app avoids); and its ~55 entries count against the security group's
 * rule quota for each port.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { READ_API_PORT, WRITE_API_PORT } from './services';

/** The methods routed to the write API (GET and HEAD go to the read API). */
export const WRITE_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'] as const;
/** The one GET that the write API answers. */
export const HISTORY_PATH = '/v1/photos/*/history';
/** The write API's streamed upload: the file in the request body. */
export const UPLOAD_PATH = '/v1/photos/upload';
/** The header CloudFront adds to every request it forwards to the load balancer. */
export const ORIGIN_VERIFY_HEADER = 'X-Catalog-Origin-Verify';

/** A header and the value the origin requires of it. */
export interface OriginHeader {
  readonly name: string;
  /** A dynamic reference to a Secrets Manager secret, resolved by CloudFormation at deploy time. */
  readonly value: string;
}

export interface LoadBalancerProps {
  readonly vpc: ec2.IVpc;
  readonly writeApi: ecs.FargateService;
  readonly readApi: ecs.FargateService;
  readonly accessLogs: { readonly bucket: s3.IBucket; readonly prefix: string };
  /** An ACM certificate in the stack's region; without it (development only) the ALB serves HTTP only. */
  readonly certificateArn?: string;
}

export class LoadBalancer extends Construct {
  readonly alb: elbv2.ApplicationLoadBalancer;
  readonly writeTargets: elbv2.ApplicationTargetGroup;
  /** The write API again, for streamed uploads alone (their latency is the client's upload). */
  readonly uploadTargets: elbv2.ApplicationTargetGroup;
  readonly readTargets: elbv2.ApplicationTargetGroup;
  /** The secret value of `ORIGIN_VERIFY_HEADER`. */
  readonly originVerifySecret: secretsmanager.Secret;
  /** The header the load balancer requires, for the distribution in front of it to send. */
  readonly originHeader: OriginHeader;

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
    this.uploadTargets = this.targetGroup('Uploads', props.vpc, props.writeApi, WRITE_API_PORT);

    const listener = props.certificateArn === undefined
      ? this.httpOnly()
      : this.https(props.certificateArn);

    // Generated, never rotated: CloudFormation resolves the value into the distribution and the
    // listener rules only when each of them changes, so a new value would reach one before the
    // other and lock CloudFront out. To change it, replace the secret (a new construct id).
    this.originVerifySecret = new secretsmanager.Secret(this, 'OriginVerify', {
      description: `Value of the ${ORIGIN_VERIFY_HEADER} header CloudFront adds to reach the catalog load balancer`,
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    NagSuppressions.addResourceSuppressions(this.originVerifySecret, [{
      id: 'AwsSolutions-SMG4',
      reason: 'CloudFormation copies this value into the distribution and the listener rules only when each of them '
        + 'changes, so a rotation would leave them disagreeing and lock CloudFront out; it is replaced by a deploy.',
    }]);
    this.originHeader = {
      name: ORIGIN_VERIFY_HEADER,
      value: this.originVerifySecret.secretValue.unsafeUnwrap(),
    };
    const fromCloudFront = elbv2.ListenerCondition.httpHeader(ORIGIN_VERIFY_HEADER, [this.originHeader.value]);

    listener.addAction('HideMetrics', {
      priority: 1,
      conditions: [elbv2.ListenerCondition.pathPatterns(['/metrics'])],
      action: elbv2.ListenerAction.fixedResponse(404),
    });
    listener.addAction('History', {
      priority: 10,
      conditions: [
        fromCloudFront,
        elbv2.ListenerCondition.httpRequestMethods(['GET']),
        elbv2.ListenerCondition.pathPatterns([HISTORY_PATH]),
      ],
      action: elbv2.ListenerAction.forward([this.writeTargets]),
    });
    // CORS preflights go where the request they announce will: the method it will use is in
    // Access-Control-Request-Method, which only preflights carry.
    listener.addAction('HistoryPreflights', {
      priority: 11,
      conditions: [
        fromCloudFront,
        elbv2.ListenerCondition.httpRequestMethods(['OPTIONS']),
        elbv2.ListenerCondition.pathPatterns([HISTORY_PATH]),
      ],
      action: elbv2.ListenerAction.forward([this.writeTargets]),
    });
    listener.addAction('WritePreflights', {
      priority: 15,
      conditions: [fromCloudFront, elbv2.ListenerCondition.httpHeader('Access-Control-Request-Method', [...WRITE_METHODS])],
      action: elbv2.ListenerAction.forward([this.writeTargets]),
    });
    listener.addAction('Uploads', {
      priority: 18,
      conditions: [
        fromCloudFront,
        elbv2.ListenerCondition.httpRequestMethods(['POST']),
        elbv2.ListenerCondition.pathPatterns([UPLOAD_PATH]),
      ],
      action: elbv2.ListenerAction.forward([this.uploadTargets]),
    });
    listener.addAction('Writes', {
      priority: 20,
      // Four methods and the header: the five condition values a rule may hold.
      conditions: [fromCloudFront, elbv2.ListenerCondition.httpRequestMethods([...WRITE_METHODS])],
      action: elbv2.ListenerAction.forward([this.writeTargets]),
    });
    listener.addAction('Reads', {
      priority: 30,
      conditions: [fromCloudFront],
      action: elbv2.ListenerAction.forward([this.readTargets]),
    });

    NagSuppressions.addResourceSuppressions(this.alb, [{
      id: 'AwsSolutions-EC23',
      reason: "The API's origin behind CloudFront, whose addresses are not fixed: the load balancer accepts its "
        + 'listener ports from anywhere but forwards only requests carrying the secret header CloudFront adds '
        + '(others get 403); the tasks accept traffic only from the load balancer.',
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

  /** What a request without CloudFront's header gets. */
  private static refuse(): elbv2.ListenerAction {
    return elbv2.ListenerAction.fixedResponse(403, {
      contentType: 'text/plain',
      messageBody: 'Use the API through its CloudFront URL.',
    });
  }

  /** HTTP on 80; requests without CloudFront's header are refused. */
  private httpOnly(): elbv2.ApplicationListener {
    const listener = this.alb.addListener('Http', {
      port: 80,
      protocol: elbv2.ApplicationProtocol.HTTP,
      defaultAction: LoadBalancer.refuse(),
    });
    NagSuppressions.addResourceSuppressions(listener, [{
      id: 'AwsSolutions-ELB1',
      reason: 'A development deployment (-c development=true) without certificateArn, so there is no certificate to '
        + 'serve HTTPS with; clients use HTTPS to CloudFront, which forwards over HTTP. Production synthesis requires '
        + '-c certificateArn=... -c apiOriginDomain=..., HTTPS to the origin (HTTP then only redirects).',
    }]);
    return listener;
  }

  /** HTTPS on 443, refusing requests without CloudFront's header; HTTP on 80 only redirects. */
  private https(certificateArn: string): elbv2.ApplicationListener {
    this.alb.addRedirect({ sourcePort: 80, targetPort: 443 });
    return this.alb.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [elbv2.ListenerCertificate.fromArn(certificateArn)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      defaultAction: LoadBalancer.refuse(),
    });
  }
}
