/**
 * The deploy-time settings, read from CDK context (`-c key=value` or cdk.json), checked once.
 *
 * A deployment is production unless `development=true` says otherwise: production needs
 * `certificateArn` and `apiOriginDomain`, so that CloudFront reaches the load balancer over
 * HTTPS (tokens and bodies never cross from the edge to the region in clear text). Self sign-up
 * (`selfSignUp=true`) needs `sesFromEmail`: sign-ups mail verification codes, and Cognito's own
 * sender stops at its daily cap.
 */
import { Node } from 'constructs';

/** The rate limit per client IP of the web ACL when `wafRateLimit` is not given: requests per 5 minutes. */
export const DEFAULT_WAF_RATE_LIMIT = 2000;

export interface CatalogConfig {
  /** The tag of the `catalog` image in the ECR repository. */
  readonly imageTag: string;
  /** The ECR repository of the image. */
  readonly ecrRepository: string;
  /** Starts every resource name; S3 bucket names are global, so it must be unique to you. */
  readonly resourcePrefix: string;
  /**
   * Whether this is a development deployment, which may leave out `certificateArn` and
   * `apiOriginDomain` (CloudFront then reaches the load balancer over HTTP).
   */
  readonly development: boolean;
  /** An ACM certificate for the load balancer; without it, HTTP only (always with `apiOriginDomain`; only in development). */
  readonly certificateArn?: string;
  /**
   * The DNS name, covered by `certificateArn`, that points at the load balancer: CloudFront
   * connects to the API origin by this name over HTTPS (it checks the origin's certificate
   * against the name it connects to, which the load balancer's own name never matches).
   */
  readonly apiOriginDomain?: string;
  /** Origins whose browsers may PUT originals (CORS) besides the seller page's. */
  readonly uploadOrigins: readonly string[];
  /** An address the alarm topic mails. */
  readonly alarmEmail?: string;
  /** Sign-in callback and sign-out URLs of the seller page's app client besides the page's own. */
  readonly pageCallbackUrls: readonly string[];
  /** Origins the APIs answer CORS for besides the seller page's. */
  readonly corsOrigins: readonly string[];
  /** Requests per 5 minutes one client IP may send to the load balancer before the web ACL blocks it. */
  readonly wafRateLimit: number;
  /**
   * Whether sellers may sign themselves up. Off: an operator invites them (AdminCreateUser), or
   * they sign in through a federated identity provider.
   */
  readonly selfSignUp: boolean;
  /** The SES identity Cognito mails from; always given when `selfSignUp` is. */
  readonly sesEmail?: SesSender;
}

/** A verified SES identity that Cognito sends the pool's e-mail from. */
export interface SesSender {
  /** The verified address (or an address of a verified domain). */
  readonly fromEmail: string;
  /** The SES region of the identity; default the stacks' region. */
  readonly region?: string;
}

function optional(node: Node, key: string): string | undefined {
  const value: unknown = node.tryGetContext(key);
  if (value === undefined || value === null || value === '') {
    return undefined;
  }
  if (typeof value !== 'string') {
    throw new Error(`context ${key}: expected a string`);
  }
  return value;
}

function required(node: Node, key: string, example: string): string {
  const value = optional(node, key);
  if (value === undefined) {
    throw new Error(`context ${key} is required: cdk synth -c ${key}=${example}`);
  }
  return value;
}

/** A comma-separated list; empty entries (a trailing comma) are dropped. */
function list(node: Node, key: string): string[] {
  return (optional(node, key) ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry.length > 0);
}

/** Whether a URL is one Cognito accepts as a callback: HTTPS, or plain HTTP to localhost. */
function secureOrLocal(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname));
}

function parseUrl(value: string, key: string): URL {
  try {
    return new URL(value);
  } catch {
    throw new Error(`context ${key}: "${value}" is not a URL`);
  }
}

/** Callback URLs: absolute, HTTPS (or HTTP to localhost), without a fragment. */
function callbackUrls(node: Node, key: string): string[] {
  return list(node, key).map((value) => {
    const url = parseUrl(value, key);
    if (!secureOrLocal(url) || url.hash !== '') {
      throw new Error(`context ${key}: "${value}" must be https:// (or http://localhost) without a #fragment`);
    }
    return value;
  });
}

/** Origins: scheme, host and port only, exactly as a browser sends them in `Origin` (so no `*` either). */
function origins(node: Node, key: string): string[] {
  return list(node, key).map((value) => {
    const url = parseUrl(value, key);
    if (url.origin !== value || !secureOrLocal(url) || value.includes('*')) {
      throw new Error(`context ${key}: "${value}" must be an origin such as https://shop.example.com `
        + '(https, or http://localhost; no path, no trailing slash, no wildcard)');
    }
    return value;
  });
}

/** A switch: `true` or `false` (text on the command line, a boolean in cdk.json); absent is false. */
function flag(node: Node, key: string): boolean {
  const value: unknown = node.tryGetContext(key);
  if (value === undefined || value === null || value === '' || value === false || value === 'false') {
    return false;
  }
  if (value === true || value === 'true') {
    return true;
  }
  throw new Error(`context ${key}: expected true or false, not "${String(value)}"`);
}

function rateLimit(node: Node, key: string): number {
  const value: unknown = node.tryGetContext(key);
  if (value === undefined || value === null || value === '') {
    return DEFAULT_WAF_RATE_LIMIT;
  }
  const limit = typeof value === 'number' ? value : Number(value);
  // AWS WAF's bounds for a rate-based rule.
  if (!Number.isInteger(limit) || limit < 10 || limit > 2_000_000_000) {
    throw new Error(`context ${key}: expected a whole number of requests per 5 minutes, 10 to 2000000000`);
  }
  return limit;
}

/** A lower-case DNS name of two labels or more. */
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/** An e-mail address as SES identities are written: a local part without spaces, `@`, a DNS name. */
const EMAIL_ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;

/** An AWS region name such as eu-west-1 or us-gov-west-1. */
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/**
 * HTTPS from CloudFront to the load balancer: both of `certificateArn` and `apiOriginDomain`, or
 * (in development only) neither.
 */
function originTls(node: Node, development: boolean): Pick<CatalogConfig, 'certificateArn' | 'apiOriginDomain'> {
  const certificateArn = optional(node, 'certificateArn');
  const apiOriginDomain = optional(node, 'apiOriginDomain');
  if ((certificateArn === undefined) !== (apiOriginDomain === undefined)) {
    throw new Error('context certificateArn and apiOriginDomain go together: CloudFront reaches the load balancer '
      + 'over HTTPS only by a name its certificate covers (give both), or over HTTP by its own name (give neither, '
      + 'in a development deployment: -c development=true)');
  }
  if (certificateArn === undefined && !development) {
    throw new Error('context certificateArn and apiOriginDomain are required: without them CloudFront reaches the load '
      + 'balancer over HTTP, and tokens and bodies cross from the edge to the region unencrypted. Give both '
      + '(-c certificateArn=arn:aws:acm:<region>:<account>:certificate/<id> -c apiOriginDomain=api-origin.example.com, '
      + 'a name the certificate covers, pointed at the load balancer), or mark a development deployment with '
      + '-c development=true');
  }
  if (apiOriginDomain !== undefined && !DNS_NAME.test(apiOriginDomain)) {
    throw new Error(`context apiOriginDomain: "${apiOriginDomain}" is not a lower-case DNS name such as api-origin.example.com`);
  }
  return { certificateArn, apiOriginDomain };
}

/** The SES sender, required by self sign-up; `sesRegion` only beside `sesFromEmail`. */
function sesSender(node: Node, selfSignUp: boolean): SesSender | undefined {
  const fromEmail = optional(node, 'sesFromEmail');
  const region = optional(node, 'sesRegion');
  if (fromEmail === undefined) {
    if (selfSignUp) {
      throw new Error('context selfSignUp=true requires sesFromEmail: sign-ups mail verification codes, and Cognito\'s '
        + 'own sender stops at its daily cap. Give a verified SES identity, -c sesFromEmail=sellers@example.com '
        + '(and -c sesRegion=<region> when the identity is not in the stacks\' region)');
    }
    if (region !== undefined) {
      throw new Error('context sesRegion: only with sesFromEmail (the region of that SES identity)');
    }
    return undefined;
  }
  if (!EMAIL_ADDRESS.test(fromEmail)) {
    throw new Error(`context sesFromEmail: "${fromEmail}" is not an e-mail address such as sellers@example.com`);
  }
  if (region !== undefined && !REGION.test(region)) {
    throw new Error(`context sesRegion: "${region}" is not a region name such as eu-west-1`);
  }
  return { fromEmail, region };
}

export function configFromContext(node: Node): CatalogConfig {
  const development = flag(node, 'development');
  const selfSignUp = flag(node, 'selfSignUp');
  return {
    imageTag: required(node, 'imageTag', '<git sha>'),
    ecrRepository: optional(node, 'ecrRepository') ?? 'photo-catalog',
    resourcePrefix: required(node, 'resourcePrefix', 'acme-prod-'),
    development,
    ...originTls(node, development),
    uploadOrigins: origins(node, 'uploadOrigins'),
    alarmEmail: optional(node, 'alarmEmail'),
    pageCallbackUrls: callbackUrls(node, 'pageCallbackUrls'),
    corsOrigins: origins(node, 'corsOrigins'),
    wafRateLimit: rateLimit(node, 'wafRateLimit'),
    selfSignUp,
    sesEmail: sesSender(node, selfSignUp),
  };
}
