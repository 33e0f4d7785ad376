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
 *
 * Browsers PUT originals from the seller page, so the originals bucket's CORS must name the
 * page's origin, a CloudFront domain assigned only when the services stack creates the page's
 * distribution. The data stack deploys first and cannot refer to it, so the bucket here has no
 * CORS of its own: `UploadCors`, built in the services stack, writes the bucket's one CORS rule
 * (PutBucketCors, through a custom resource) from the page's origin and the `uploadOrigins` of
 * context, and writes it again whenever either changes. No rule names `*`: a presigned URL
 * authorizes the PUT, but no other site's script should be able to send one from a seller's
 * browser.
 */
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Annotations, Aws, CfnResource, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
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
      // CORS: set by UploadCors from the services stack, which knows the seller page's origin.
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

/** The one CORS rule of the originals bucket: browsers of `origins` may PUT (presigned) and read the ETag. */
export function uploadCorsRule(origins: readonly string[]): Record<string, unknown> {
  return {
    AllowedMethods: ['PUT'],
    AllowedOrigins: [...origins],
    // The presigned PUT carries its own headers (Content-Type, the upload tag); the URL authorizes it.
    AllowedHeaders: ['*'],
    ExposeHeaders: ['ETag'],
    MaxAgeSeconds: 3600,
  };
}

export interface UploadCorsProps {
  readonly bucket: s3.IBucket;
  /** The browser origins that may PUT originals: the seller page's, and `uploadOrigins`. */
  readonly origins: readonly string[];
}

/**
 * The originals bucket's CORS, written from the stack that knows the seller page's origin (see
 * the module comment). A custom resource calls PutBucketCors at creation and at every change of
 * the origins; its role may do that on this one bucket alone. Nothing is removed when it is: the
 * rule then names a page that no longer exists, which admits no one.
 */
export class UploadCors extends Construct {
  readonly resource: cr.AwsCustomResource;

  constructor(scope: Construct, id: string, props: UploadCorsProps) {
    super(scope, id);
    if (props.origins.some((origin) => origin.includes('*'))) {
      throw new Error(`the originals bucket's CORS names origins, never a wildcard: ${props.origins.join(', ')}`);
    }

    const call: cr.AwsSdkCall = {
      service: 'S3',
      action: 'putBucketCors',
      parameters: {
        Bucket: props.bucket.bucketName,
        CORSConfiguration: { CORSRules: [uploadCorsRule(props.origins)] },
      },
      physicalResourceId: cr.PhysicalResourceId.of(`${props.bucket.bucketName}-cors`),
    };
    this.resource = new cr.AwsCustomResource(this, 'PutBucketCors', {
      onCreate: call,
      onUpdate: call,
      policy: cr.AwsCustomResourcePolicy.fromStatements([new iam.PolicyStatement({
        actions: ['s3:PutBucketCORS'],
        resources: [props.bucket.bucketArn],
      })]),
      // The Lambda's bundled SDK has S3: nothing to download at deploy time.
      installLatestAwsSdk: false,
    });
    this.suppressProviderFindings();
  }

  /**
   * The findings on AwsCustomResource's Lambda (a singleton at the stack's root) and its role,
   * which are as the library makes them: cdk-nag's managed-policy finding, and cfn-lint's one
   * warning.
   */
  private suppressProviderFindings(): void {
    const stack = Stack.of(this);
    const provider = stack.node.tryFindChild(`AWS${cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '')}`);
    if (provider === undefined) {
      return;
    }
    NagSuppressions.addResourceSuppressions(provider, [
      {
        id: 'AwsSolutions-IAM4',
        reason: 'AwsCustomResource\'s Lambda logs with AWSLambdaBasicExecutionRole (CreateLogGroup/Stream, PutLogEvents), '
          + 'the role custom-resources gives it; its own policy allows only s3:PutBucketCORS on the originals bucket.',
        appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
      },
    ], true);
    // Every CDK Lambda depends on its role explicitly as well as by GetAtt; cfn-lint warns of the
    // redundancy (W3005), which is harmless and not ours to remove.
    const fn = provider.node.tryFindChild('Resource');
    if (fn instanceof CfnResource) {
      fn.addMetadata('cfn-lint', { config: { ignore_checks: ['W3005'] } });
    }
  }
}
