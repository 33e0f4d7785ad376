/**
 * The seller web page: static files in a private bucket (the variants bucket's protections),
 * served only through a CloudFront distribution with origin access control, under strict
 * security headers; its Cognito app client; and its `config.json`, generated at deploy time.
 *
 * The files come from the repository's `seller-page/` folder (`index.html`, its ES modules
 * with `app.js` as the entry, `style.css`), deployed with `config.json` by a BucketDeployment
 * (a Lambda that copies them and then invalidates the distribution). While that folder is
 * missing or empty only `config.json` is deployed, so the app synthesizes without it.
 *
 * The Content-Security-Policy allows scripts, styles and fonts from the page itself only, and
 * connections to the page (`config.json`), the API, the hosted UI (the token endpoint) and the
 * originals bucket (presigned uploads); images from the page and the variants CDN (`data:` for
 * placeholders). Nothing may frame the page, and no referrer leaves it (the address carries
 * the authorization code after sign-in).
 *
 * CloudFront may list the bucket, as it may the variants bucket, so a missing file answers 404
 * rather than 403; the root is `index.html`, so no request is ever a listing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Annotations, CfnElement, CfnResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { PAGE_SCOPES, SellerAuth } from './auth';
import { LIST_BUCKET_WARNING } from './storage';

/** The page's files in the repository: `seller-page/` beside `infra-cdk/`. */
export const SELLER_PAGE_FOLDER = path.join(__dirname, '..', '..', '..', 'seller-page');

/** The object the page reads at start to find the APIs and sign-in. */
export interface SellerPageConfig {
  readonly write_api: string;
  readonly read_api: string;
  readonly auth: {
    readonly kind: 'cognito';
    /** The hosted UI, `https://<prefix>.auth.<region>.amazoncognito.com`. */
    readonly domain: string;
    readonly client_id: string;
    readonly redirect_uri: string;
    readonly scopes: readonly string[];
  };
}

export interface SellerPageProps {
  readonly bucketName: string;
  /** The log bucket: S3 access logs and CloudFront logs. */
  readonly logs: s3.IBucket;
  readonly auth: SellerAuth;
  /** The API's base URL (both APIs share it). */
  readonly apiUrl: string;
  /** Where variant images come from (`https://<variants CDN>`). */
  readonly variantsUrl: string;
  /** Where presigned uploads go (`https://<originals bucket's regional domain>`). */
  readonly uploadUrl: string;
  /** Callback and sign-out URLs besides the page's own (local development, a second host). */
  readonly extraCallbackUrls?: readonly string[];
  /** Starts the name of the response headers policy (CloudFront names are global to the account). */
  readonly namePrefix: string;
  /** The folder of the page's files; default `SELLER_PAGE_FOLDER`. */
  readonly folder?: string;
}

/** Whether a folder holds a file to deploy (hidden files such as `.gitkeep` do not count). */
function hasFiles(folder: string): boolean {
  return fs.existsSync(folder) && fs.readdirSync(folder).some((entry) => !entry.startsWith('.'));
}

export class SellerPage extends Construct {
  readonly bucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  readonly headers: cloudfront.ResponseHeadersPolicy;
  readonly client: cognito.UserPoolClient;
  readonly deployment: s3deploy.BucketDeployment;
  /** What `config.json` holds. */
  readonly config: SellerPageConfig;
  /** Whether the deployment includes the folder's files (else only `config.json`). */
  readonly deploysFiles: boolean;

  constructor(scope: Construct, id: string, props: SellerPageProps) {
    super(scope, id);

    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName: props.bucketName,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.logs,
      serverAccessLogsPrefix: 's3/seller-page/',
      lifecycleRules: [
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      // Retained like every bucket; its content is rebuilt by every deploy, but its name is global.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const csp = [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "font-src 'self'",
      `img-src 'self' data: blob: ${props.variantsUrl}`,
      `connect-src 'self' ${props.apiUrl} ${props.auth.hostedUiUrl} ${props.uploadUrl}`,
      "manifest-src 'self'",
      "form-action 'self'",
      "base-uri 'none'",
      "object-src 'none'",
      "frame-ancestors 'none'",
      'upgrade-insecure-requests',
    ].join('; ');
    this.headers = new cloudfront.ResponseHeadersPolicy(this, 'Headers', {
      responseHeadersPolicyName: `${props.namePrefix}catalog-seller-page`,
      comment: 'Seller page: strict CSP, HSTS, nosniff, no framing, no referrer',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: csp, override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
      customHeadersBehavior: {
        customHeaders: [
          { header: 'Cross-Origin-Opener-Policy', value: 'same-origin', override: true },
          { header: 'Permissions-Policy', value: 'camera=(), microphone=(), geolocation=(), payment=()', override: true },
        ],
      },
    });

    this.distribution = new cloudfront.Distribution(this, 'Cdn', {
      comment: `Seller page from ${props.bucketName}`,
      defaultBehavior: {
        // LIST: a missing file answers 404, not 403.
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket, {
          originAccessLevels: [cloudfront.AccessLevel.READ, cloudfront.AccessLevel.LIST],
        }),
        // A person typing the address gets redirected; HSTS keeps the browser on HTTPS after.
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: this.headers,
      },
      defaultRootObject: 'index.html',
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: props.logs,
      logFilePrefix: 'cloudfront-seller-page/',
    });
    Annotations.of(this.distribution).acknowledgeWarning(LIST_BUCKET_WARNING,
      'The default root object is index.html, so the root is never a listing of the bucket.');
    NagSuppressions.addResourceSuppressions(this.distribution, [
      {
        id: 'AwsSolutions-CFR1',
        reason: 'Sellers sign in from every country the catalog sells to; the page is public static files, no geo '
          + 'restriction applies.',
      },
      {
        id: 'AwsSolutions-CFR2',
        reason: 'The distribution serves static public files (HTML, JS, CSS, config.json with no secret) to GET/HEAD only; '
          + 'the APIs the page calls sit behind the web ACL, and Shield Standard covers volumetric attacks.',
      },
      {
        id: 'AwsSolutions-CFR4',
        reason: 'The distribution uses its default *.cloudfront.net certificate, whose minimum protocol CloudFront '
          + 'fixes; a custom domain with an ACM certificate would allow TLSv1.2_2021.',
      },
    ]);

    const pageUrl = this.url;
    this.client = props.auth.addPageClient(this, 'Client', [pageUrl, ...(props.extraCallbackUrls ?? [])]);

    this.config = {
      write_api: props.apiUrl,
      read_api: props.apiUrl,
      auth: {
        kind: 'cognito',
        domain: props.auth.hostedUiUrl,
        client_id: this.client.userPoolClientId,
        redirect_uri: pageUrl,
        scopes: [...PAGE_SCOPES],
      },
    };
    const folder = props.folder ?? SELLER_PAGE_FOLDER;
    this.deploysFiles = hasFiles(folder);
    this.deployment = new s3deploy.BucketDeployment(this, 'Deploy', {
      sources: [
        // A config.json in the folder (a local one) would race the generated one: left out.
        ...(this.deploysFiles ? [s3deploy.Source.asset(folder, { exclude: ['.*', 'config.json'] })] : []),
        s3deploy.Source.jsonData('config.json', this.config),
      ],
      destinationBucket: this.bucket,
      // Browsers revalidate every load (the names carry no hash); the edge keeps a day, and every
      // deploy invalidates it.
      cacheControl: [
        s3deploy.CacheControl.setPublic(),
        s3deploy.CacheControl.maxAge(Duration.seconds(0)),
        s3deploy.CacheControl.sMaxAge(Duration.days(1)),
      ],
      distribution: this.distribution,
      distributionPaths: ['/*'],
      prune: true,
      memoryLimit: 256,
    });
    this.suppressDeploymentFindings();
  }

  /** `https://<distribution domain>/`: the page, its sign-in callback and sign-out URL. */
  get url(): string {
    return `${this.origin}/`;
  }

  /** `https://<distribution domain>`: the origin the page's requests carry. */
  get origin(): string {
    return `https://${this.distribution.distributionDomainName}`;
  }

  /**
   * The findings on BucketDeployment's Lambda (a singleton at the stack's root) and its role,
   * which are as the library makes them: cdk-nag's, and cfn-lint's one warning.
   */
  private suppressDeploymentFindings(): void {
    const stack = Stack.of(this);
    NagSuppressions.addResourceSuppressions(this.deployment.handlerRole, [
      {
        id: 'AwsSolutions-IAM4',
        reason: 'BucketDeployment\'s Lambda logs with AWSLambdaBasicExecutionRole (CreateLogGroup/Stream, PutLogEvents), '
          + 'the role aws-s3-deployment gives it.',
        appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason: 'As aws-s3-deployment grants it: the Lambda reads its asset zips from the CDK bootstrap bucket, writes '
          + 'and prunes every key of this one bucket (s3:GetObject*/GetBucket*/List*/DeleteObject*/Abort* on bucket/*), '
          + 'and invalidates the distribution (cloudfront:CreateInvalidation/GetInvalidation take no resource).',
        appliesTo: [
          ...['GetBucket*', 'GetObject*', 'List*', 'Abort*', 'DeleteObject*'].map((action) => `Action::s3:${action}`),
          { regex: '/^Resource::arn:<AWS::Partition>:s3:::cdk-[a-z0-9]+-assets-<AWS::AccountId>-<AWS::Region>\\/\\*$/' },
          `Resource::<${stack.resolve(stack.getLogicalId(this.bucket.node.defaultChild as CfnElement))}.Arn>/*`,
          'Resource::*',
        ],
      },
    ], true);
    for (const child of stack.node.children) {
      if (child.node.id.startsWith('Custom::CDKBucketDeployment')) {
        NagSuppressions.addResourceSuppressions(child, [{
          id: 'AwsSolutions-L1',
          reason: 'The runtime of BucketDeployment\'s Lambda is chosen by aws-cdk-lib (its bundled AWS CLI layer is '
            + 'built for it); it moves with the library version.',
        }], true);
        // Every CDK Lambda depends on its role explicitly as well as by GetAtt; cfn-lint warns of the
        // redundancy (W3005), which is harmless and not ours to remove.
        const fn = child.node.tryFindChild('Resource');
        if (fn instanceof CfnResource) {
          fn.addMetadata('cfn-lint', { config: { ignore_checks: ['W3005'] } });
        }
      }
    }
  }
}
