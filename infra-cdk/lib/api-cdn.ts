/**
 * The API's public entry: a CloudFront distribution in front of the load balancer, so that
 * buyers' reads of public data are answered at the edge.
 *
 * | path                      | cached                   | what reaches the origin                          |
 * | ------------------------- | ------------------------ | ------------------------------------------------ |
 * | `/v1/photos/*\/history`   | never                    | everything (all headers but Host, query, cookies) |
 * | `/v1/photos/*`            | GET/HEAD, as the API says | the cache key, the token as `X-Catalog-Authorization`, the upload and CORS headers |
 * | `/v1/products/*`          | GET/HEAD, as the API says | the same                                         |
 * | everything else           | never                    | everything (all headers but Host, query, cookies) |
 *
 * The read API marks public answers `Cache-Control: public, max-age=60` (or 30) with a strong
 * `ETag`, plus `stale-while-revalidate=60, stale-if-error=3600`, which CloudFront honours as
 * the origin sends them (served stale while it revalidates, and while the origin fails), and a
 * seller's own views `private, no-cache`. The public-read cache policy keeps no
 * answer the origin did not mark (default TTL 0), never keeps `private`/`no-cache` ones (minimum
 * TTL 0; a higher minimum would override them), keeps the rest at most 60 s, then revalidates
 * with `If-None-Match`. Its key holds:
 *
 * - `Origin`: the API answers CORS per origin (`Access-Control-Allow-Origin` and `Vary: Origin`)
 *   and CloudFront ignores `Vary`, so without it an entry made for one origin (or none) would be
 *   served to another;
 * - every query string (`limit`, `cursor`, `min_version`), and the compression encodings.
 *
 * Not `Authorization`: in the key, every distinct value (a seller's token, or any string a client
 * makes up) would be an entry of its own and a miss, so anyone could send every request to the
 * origin. Yet CloudFront forwards `Authorization` on a cached path only as part of the key. So
 * the public-read paths have a viewer-request function of their own (`publicReadRequest`) that
 * moves the viewer's `Authorization` into `FORWARDED_AUTHORIZATION_HEADER`, which their origin
 * request policy forwards and the APIs accept exactly as `Authorization`; a client's own
 * `X-Catalog-Authorization` is dropped when it sent no `Authorization`, and replaced when it did,
 * so the header always is the viewer's `Authorization`. This is safe because the answer does not
 * depend on the token where it is cached: a ready photo, gallery or product is answered the same
 * to everyone (the API ignores the token there), and a seller's view of a photo that is not ready
 * is `private, no-cache`, which CloudFront neither stores nor shares with requests collapsed with
 * it (request collapsing stays off for such answers while the minimum TTL is 0).
 *
 * The same paths carry writes (`POST /v1/photos/upload`, `PATCH`, `DELETE`, `PUT .../photo-order`):
 * those methods are never cached, and their origin request policy adds `Idempotency-Key`,
 * `Content-Type` and the CORS preflight headers; their token arrives as `X-Catalog-Authorization`
 * too. `OPTIONS` is allowed but not cached, so every preflight reaches the APIs, which answer CORS
 * themselves. Error answers are not cached either (a `404` or `503` of read-your-writes must not
 * outlive the moment).
 *
 * Every path's viewer-request function writes the viewer's IP into `VIEWER_IP_HEADER` (replacing
 * any a client sent), which the web ACL on the load balancer rate-limits by: behind CloudFront
 * the load balancer sees only CloudFront's addresses, and `X-Forwarded-For` starts with whatever
 * the client wrote. The pass-through paths (`viewerIp`) do only that: their policy forwards every
 * viewer header, `Authorization` included, so there is nothing to move.
 */
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Duration } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { HISTORY_PATH, OriginHeader } from './load-balancer';

/** The header holding the viewer's IP, set by CloudFront for the web ACL. */
export const VIEWER_IP_HEADER = 'X-Catalog-Viewer-Ip';

/**
 * The header that carries the viewer's `Authorization` to the APIs on the public-read paths,
 * whose cache key leaves `Authorization` out; the APIs take a bearer token from it as from
 * `Authorization`.
 */
export const FORWARDED_AUTHORIZATION_HEADER = 'X-Catalog-Authorization';

/** The public read paths, cached as the API's `Cache-Control` allows. */
export const PUBLIC_READ_PATHS = ['/v1/photos/*', '/v1/products/*'] as const;

/** The longest a public answer is kept before CloudFront revalidates it (the API asks for 60 s at most). */
export const PUBLIC_READ_MAX_TTL = Duration.seconds(60);

/** Headers of the cache key of public reads: they separate CORS origins (never callers). */
export const PUBLIC_READ_KEY_HEADERS = ['Origin'] as const;

/** Headers forwarded besides the cache key on the public read paths (which carry writes too). */
export const PUBLIC_READ_FORWARDED_HEADERS = [
  FORWARDED_AUTHORIZATION_HEADER,
  'Idempotency-Key',
  'Content-Type',
  'Access-Control-Request-Method',
  'Access-Control-Request-Headers',
  VIEWER_IP_HEADER,
] as const;

/** A viewer-request function's line that writes the viewer's IP into `VIEWER_IP_HEADER`. */
const SET_VIEWER_IP = `  headers['${VIEWER_IP_HEADER.toLowerCase()}'] = { value: event.viewer.ip };`;

/** The pass-through paths' viewer-request function: the viewer's IP, nothing else. */
export const VIEWER_IP_CODE = [
  'function handler(event) {',
  '  var headers = event.request.headers;',
  SET_VIEWER_IP,
  '  return event.request;',
  '}',
].join('\n');

/**
 * The public-read paths' viewer-request function: the viewer's IP, and the viewer's
 * `Authorization` moved into `FORWARDED_AUTHORIZATION_HEADER` (which then is exactly the
 * viewer's `Authorization`, or absent).
 */
export const PUBLIC_READ_REQUEST_CODE = [
  'function handler(event) {',
  '  var headers = event.request.headers;',
  SET_VIEWER_IP,
  "  if (headers['authorization']) {",
  `    headers['${FORWARDED_AUTHORIZATION_HEADER.toLowerCase()}'] = { value: headers['authorization'].value };`,
  "    delete headers['authorization'];",
  '  } else {',
  `    delete headers['${FORWARDED_AUTHORIZATION_HEADER.toLowerCase()}'];`,
  '  }',
  '  return event.request;',
  '}',
].join('\n');

/** The error statuses CloudFront would otherwise cache for 10 s. */
export const UNCACHED_ERROR_STATUSES = [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504] as const;

export interface ApiCdnProps {
  readonly loadBalancer: elbv2.ILoadBalancerV2;
  /** The header the load balancer requires of every request. */
  readonly originHeader: OriginHeader;
  /**
   * A DNS name, covered by the load balancer's certificate, that points at it: CloudFront then
   * connects over HTTPS. Without it (development deployments only), over HTTP to the load
   * balancer's own name.
   */
  readonly originDomain?: string;
  readonly logs: s3.IBucket;
  /** Starts the names of the policies and the functions (CloudFront names are global to the account). */
  readonly namePrefix: string;
}

export class ApiCdn extends Construct {
  readonly distribution: cloudfront.Distribution;
  readonly publicReads: cloudfront.CachePolicy;
  readonly publicReadsOrigin: cloudfront.OriginRequestPolicy;
  /** The pass-through paths' viewer-request function. */
  readonly viewerIp: cloudfront.Function;
  /** The public-read paths' viewer-request function. */
  readonly publicReadRequest: cloudfront.Function;

  constructor(scope: Construct, id: string, props: ApiCdnProps) {
    super(scope, id);

    const customHeaders = { [props.originHeader.name]: props.originHeader.value };
    const origin = props.originDomain === undefined
      ? new origins.LoadBalancerV2Origin(props.loadBalancer, {
        protocolPolicy: cloudfront.OriginProtocolPolicy.HTTP_ONLY,
        customHeaders,
      })
      : new origins.HttpOrigin(props.originDomain, {
        protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
        originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
        customHeaders,
      });

    const name = `${props.namePrefix}catalog-api`;
    this.viewerIp = new cloudfront.Function(this, 'ViewerIp', {
      functionName: `${name}-viewer-ip`,
      comment: `Sets ${VIEWER_IP_HEADER} to the viewer's IP for the web ACL`,
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      code: cloudfront.FunctionCode.fromInline(VIEWER_IP_CODE),
    });
    this.publicReadRequest = new cloudfront.Function(this, 'PublicReadRequest', {
      functionName: `${name}-public-read`,
      comment: `Sets ${VIEWER_IP_HEADER}; moves Authorization to ${FORWARDED_AUTHORIZATION_HEADER}, out of the cache key`,
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      code: cloudfront.FunctionCode.fromInline(PUBLIC_READ_REQUEST_CODE),
    });
    const viewerRequest = (fn: cloudfront.IFunction) => [{ function: fn, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }];

    this.publicReads = new cloudfront.CachePolicy(this, 'PublicReads', {
      cachePolicyName: `${name}-public-reads`,
      comment: 'Catalog API public reads: as the API says, at most 60 s; per CORS origin, the same for every caller',
      minTtl: Duration.seconds(0),
      defaultTtl: Duration.seconds(0),
      maxTtl: PUBLIC_READ_MAX_TTL,
      headerBehavior: cloudfront.CacheHeaderBehavior.allowList(...PUBLIC_READ_KEY_HEADERS),
      queryStringBehavior: cloudfront.CacheQueryStringBehavior.all(),
      cookieBehavior: cloudfront.CacheCookieBehavior.none(),
      enableAcceptEncodingGzip: true,
      enableAcceptEncodingBrotli: true,
    });
    this.publicReadsOrigin = new cloudfront.OriginRequestPolicy(this, 'PublicReadsOrigin', {
      originRequestPolicyName: `${name}-public-reads`,
      comment: 'Catalog API public-read paths: the moved token, and what writes and preflights need besides the cache key',
      headerBehavior: cloudfront.OriginRequestHeaderBehavior.allowList(...PUBLIC_READ_FORWARDED_HEADERS),
      queryStringBehavior: cloudfront.OriginRequestQueryStringBehavior.none(),
      cookieBehavior: cloudfront.OriginRequestCookieBehavior.none(),
    });

    const passThrough: cloudfront.BehaviorOptions = {
      origin,
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
      cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
      // With caching disabled this forwards Authorization too.
      originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      responseHeadersPolicy: cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
      functionAssociations: viewerRequest(this.viewerIp),
    };
    const publicRead: cloudfront.BehaviorOptions = {
      ...passThrough,
      cachedMethods: cloudfront.CachedMethods.CACHE_GET_HEAD,
      cachePolicy: this.publicReads,
      originRequestPolicy: this.publicReadsOrigin,
      compress: true,
      functionAssociations: viewerRequest(this.publicReadRequest),
    };

    this.distribution = new cloudfront.Distribution(this, 'Cdn', {
      comment: 'Catalog API',
      defaultBehavior: passThrough,
      // In this order: CloudFront takes the first pattern that matches, and the history is a photo path.
      additionalBehaviors: {
        [HISTORY_PATH]: passThrough,
        ...Object.fromEntries(PUBLIC_READ_PATHS.map((path) => [path, publicRead])),
      },
      errorResponses: UNCACHED_ERROR_STATUSES.map((httpStatus) => ({ httpStatus, ttl: Duration.seconds(0) })),
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: props.logs,
      logFilePrefix: 'cloudfront-api/',
      // Cache hit rate (and origin latency, error rates by code) for the dashboard, charged as custom metrics.
      publishAdditionalMetrics: true,
    });
    NagSuppressions.addResourceSuppressions(this.distribution, [
      {
        id: 'AwsSolutions-CFR1',
        reason: 'The catalog API serves buyers and sellers in every country the catalog sells to; no geo restriction applies.',
      },
      {
        id: 'AwsSolutions-CFR2',
        reason: 'The web ACL is REGIONAL on the load balancer, the only origin (the stacks fix no region, and a CLOUDFRONT '
          + 'ACL must live in us-east-1); the load balancer forwards only requests that came through this distribution.',
      },
      {
        id: 'AwsSolutions-CFR4',
        reason: 'The distribution uses its default *.cloudfront.net certificate, whose minimum protocol CloudFront '
          + 'fixes; a custom domain with an ACM certificate would allow TLSv1.2_2021.',
      },
    ]);
    if (props.originDomain === undefined) {
      NagSuppressions.addResourceSuppressions(this.distribution, [{
        id: 'AwsSolutions-CFR5',
        reason: 'A development deployment (-c development=true) without certificateArn and apiOriginDomain: the load '
          + 'balancer has no certificate for a name CloudFront could verify, so CloudFront reaches it over HTTP (viewers '
          + 'still use HTTPS only). Production synthesis refuses to leave them out: HTTPS with TLSv1.2 to the origin.',
      }]);
    }
  }

  /** `https://<distribution domain>`: the API's base URL for the page and sellers' scripts. */
  get url(): string {
    return `https://${this.distribution.distributionDomainName}`;
  }
}
