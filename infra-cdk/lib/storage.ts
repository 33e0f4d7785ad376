/**
 * The buckets: private originals that browsers PUT to with presigned URLs, variants that only
 * CloudFront reads (origin access control), and one log bucket for S3 server access logs,
 * CloudFront logs and the load balancer's access logs.
 *
 * CloudFront may also list the variants bucket: without s3:ListBucket, S3 answers 403 for a
 * key that does not exist, so a deleted photo's variant URL would look forbidden rather than
 * gone. The distribution's root then names an object that never exists (`NO_ROOT_OBJECT`), so
 * a request for `/` is a 404 too, never a listing of the bucket.
 *
 * Originals are never public and are versioned; their lifecycle aborts multipart uploads that
 * never completed (the streamed upload path), expires replaced or deleted versions, and expires
 * uploads never confirmed: a presigned PUT stores the object with the unconfirmed-upload tag
 * of resources.json, which upload-complete removes, so an object still tagged after a few days
 * is one no seller completed.
 */
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Annotations, Aws, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { FactName } from 'aws-cdk-lib/region-info';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { UploadTag } from './resources';

/** Where in the log bucket the load balancer writes. */
export const LOAD_BALANCER_LOG_PREFIX = 'alb';

/** The variants distribution's root object: no variant has this key, so `/` answers 404. */
export const NO_ROOT_OBJECT = 'index.html';

/** The CDK warning that origin access with LIST would list the bucket at the root. */
export const LIST_BUCKET_WARNING = '@aws-cdk/aws-cloudfront-origins:listBucketSecurityRisk';

export interface StorageProps {
  readonly originalsBucketName: string;
  readonly variantsBucketName: string;
  /** The tag of originals uploaded but not confirmed (resources.json). */
  readonly unconfirmedUploadTag: UploadTag;
  /** Origins allowed to PUT originals from a browser (CORS). */
  readonly uploadOrigins: readonly string[];
}

export class Storage extends Construct {
  readonly logs: s3.Bucket;
  readonly originals: s3.Bucket;
  readonly variants: s3.Bucket;
  readonly distribution: cloudfront.Distribution;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);

    this.logs = new s3.Bucket(this, 'Logs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      // SSE-S3 is the only encryption the load balancer's log delivery supports.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      // CloudFront's standard logs are written with ACLs.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ id: 'expire-logs', expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.allowLoadBalancerLogs();

    this.originals = new s3.Bucket(this, 'Originals', {
      bucketName: props.originalsBucketName,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.logs,
      serverAccessLogsPrefix: 's3/originals/',
      cors: [{
        allowedMethods: [s3.HttpMethods.PUT],
        allowedOrigins: [...props.uploadOrigins],
        allowedHeaders: ['*'],
        exposedHeaders: ['ETag'],
        maxAge: 3600,
      }],
      lifecycleRules: [
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        {
          id: 'expire-unconfirmed-uploads',
          tagFilters: { [props.unconfirmedUploadTag.key]: props.unconfirmedUploadTag.value },
          expiration: Duration.days(props.unconfirmedUploadTag.expireAfterDays),
        },
        { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: Duration.days(30) },
        { id: 'remove-expired-delete-markers', expiredObjectDeleteMarker: true },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // "Object Created" events to EventBridge, declared natively (the `eventBridgeEnabled` prop
    // would add a custom-resource Lambda for the same setting).
    const originals = this.originals.node.defaultChild as s3.CfnBucket;
    originals.notificationConfiguration = { eventBridgeConfiguration: { eventBridgeEnabled: true } };

    this.variants = new s3.Bucket(this, 'Variants', {
      bucketName: props.variantsBucketName,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.logs,
      serverAccessLogsPrefix: 's3/variants/',
      lifecycleRules: [
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.distribution = new cloudfront.Distribution(this, 'VariantsCdn', {
      comment: `Variants of ${props.variantsBucketName}`,
      defaultBehavior: {
        // LIST: a missing variant answers 404, not 403.
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.variants, {
          originAccessLevels: [cloudfront.AccessLevel.READ, cloudfront.AccessLevel.LIST],
        }),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
      },
      // With LIST, a request for the root would be a listing of the bucket; this key never exists.
      defaultRootObject: NO_ROOT_OBJECT,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: this.logs,
      logFilePrefix: 'cloudfront/',
      // Cache hit rate (and origin latency, error rates by code) for the dashboard, charged as custom metrics.
      publishAdditionalMetrics: true,
    });
    Annotations.of(this.distribution).acknowledgeWarning(LIST_BUCKET_WARNING,
      'The default root object is set, so the root is never a listing of the bucket.');
    NagSuppressions.addResourceSuppressions(this.distribution, [
      {
        id: 'AwsSolutions-CFR1',
        reason: 'Product photos are public to buyers in every country the catalog sells to; no geo restriction applies.',
      },
      {
        id: 'AwsSolutions-CFR2',
        reason: 'The distribution serves immutable public images to GET/HEAD only, from a private bucket; no request '
          + 'bodies or application logic to protect, Shield Standard covers volumetric attacks, and a web ACL would '
          + 'cost more than the rest of the CDN at rest.',
      },
      {
        id: 'AwsSolutions-CFR4',
        reason: 'The distribution uses its default *.cloudfront.net certificate, whose minimum protocol CloudFront '
          + 'fixes; a custom domain with an ACM certificate would allow TLSv1.2_2021.',
      },
    ]);
  }

  /**
   * Lets the load balancer write its access logs. The writer is the regional Elastic Load
   * Balancing account, looked up at deploy time from a mapping, since the stacks do not fix a
   * region at synth time.
   */
  private allowLoadBalancerLogs(): void {
    const elbAccount = Stack.of(this).regionalFact(FactName.ELBV2_ACCOUNT);
    this.logs.addToResourcePolicy(new iam.PolicyStatement({
      principals: [new iam.ArnPrincipal(Fn.join('', ['arn:', Aws.PARTITION, ':iam::', elbAccount, ':root']))],
      actions: ['s3:PutObject'],
      resources: [this.logs.arnForObjects(`${LOAD_BALANCER_LOG_PREFIX}/AWSLogs/${Aws.ACCOUNT_ID}/*`)],
    }));
  }
}
