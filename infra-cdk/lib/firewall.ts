/**
 * The web ACLs: one on the API's load balancer, and, while sellers may sign themselves up, one
 * on the sellers' user pool. Both are REGIONAL, log what their rules act on to CloudWatch Logs
 * (the group's name must start with `aws-waf-logs-`), and leave credentials out of the logs.
 *
 * The API's ACL (`ApiFirewall`) is on the load balancer, so it sees every request that reaches
 * the services (cache hits at CloudFront never do, and need no inspection). A CLOUDFRONT ACL
 * would have to live in us-east-1, and the stacks fix no region. Rules, in order:
 *
 * 1. A rate limit per client IP (`wafRateLimit` per 5 minutes, default 2000). Behind CloudFront
 *    the load balancer's peer is always a CloudFront address, so the rule counts by the viewer
 *    IP that CloudFront writes into `VIEWER_IP_HEADER` (api-cdn.ts): unlike `X-Forwarded-For`,
 *    whose first address is whatever the client sent, a client cannot choose it.
 * 2. AWSManagedRulesKnownBadInputsRuleSet.
 * 3. AWSManagedRulesCommonRuleSet, with `SizeRestrictions_BODY` (bodies over 8 KB) and
 *    `CrossSiteScripting_BODY` set to count: the first would block every multipart upload
 *    (`POST /v1/photos/upload`, up to 25 MiB), and the second inspects the image bytes, where
 *    chance byte patterns look like markup (and the API answers JSON, never HTML).
 * 4. The labels those two leave, blocked on every path but the upload: elsewhere a body over
 *    8 KB or with a script in it is still refused.
 *
 * Its logs leave out `Authorization`, the token CloudFront moves into
 * `FORWARDED_AUTHORIZATION_HEADER` on the public-read paths, and the origin-verify header.
 *
 * The user pool's ACL (`SignUpFirewall`) guards self sign-up. Cognito hands AWS WAF the requests
 * to its hosted UI (by path) and to its public API (`POST /` with the operation in `X-Amz-Target`),
 * but no user name, address or password. A CAPTCHA can be shown only in the hosted UI: an API
 * caller that meets one gets `ForbiddenException`. Rules, in order:
 *
 * 1. A rate limit per client IP on sign-up requests (`SIGN_UP_RATE_LIMIT` per 5 minutes): the
 *    hosted UI's sign-up page (`/signup`, its form and its submission), and the API's `SignUp`
 *    and `ResendConfirmationCode`, the calls that create an account or mail a code. It catches
 *    one address creating accounts or sending mail in bulk, CAPTCHA solved or not.
 * 2. The API's `SignUp`, blocked: the seller page signs up through the hosted UI, and an API caller
 *    (the page's client id is public) would otherwise create accounts without ever meeting the
 *    CAPTCHA. Sign-in, token refresh and every other call are untouched.
 * 3. A CAPTCHA on the hosted UI's sign-up page: it catches scripted sign-ups from many addresses,
 *    which the rate limit alone would not. It covers `/signup` only: a CAPTCHA on the hosted UI's
 *    TOTP setup breaks it, and sign-in needs none.
 */
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { FORWARDED_AUTHORIZATION_HEADER, VIEWER_IP_HEADER } from './api-cdn';
import { ORIGIN_VERIFY_HEADER } from './load-balancer';

/** The one path whose bodies may be large (multipart uploads up to 25 MiB). */
export const UPLOAD_PATH = '/v1/photos/upload';

/** Common-rule-set rules that only count, and the labels they leave for the upload exception. */
export const BODY_RULES_EXCEPT_UPLOAD: Readonly<Record<string, string>> = {
  SizeRestrictions_BODY: 'awswaf:managed:aws:core-rule-set:SizeRestrictions_Body',
  CrossSiteScripting_BODY: 'awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body',
};

/** Where the web ACL's logs go: WAF accepts only groups named so. */
export const WAF_LOG_GROUP_PREFIX = 'aws-waf-logs-';

/** Sign-up requests per 5 minutes one IP may send to the user pool (a person needs a handful; WAF's minimum is 10). */
export const SIGN_UP_RATE_LIMIT = 20;

/** The hosted UI's sign-up page: its form (GET) and its submission (POST). */
export const SIGN_UP_PATH = '/signup';

/** `X-Amz-Target` of the user pool API's calls that create an account or mail its code. */
export const SIGN_UP_API_TARGETS = {
  signUp: 'AWSCognitoIdentityProviderService.SignUp',
  resendCode: 'AWSCognitoIdentityProviderService.ResendConfirmationCode',
} as const;

/** How long a solved CAPTCHA lets the browser through (the form and its submission). */
export const CAPTCHA_IMMUNITY = Duration.minutes(10);

/** The metrics and sampled requests of an ACL (`metric` 'all') or of one of its rules, named after the ACL. */
function visibility(aclName: string, metric: string): wafv2.CfnWebACL.VisibilityConfigProperty {
  return { cloudWatchMetricsEnabled: true, metricName: `${aclName}-${metric}`, sampledRequestsEnabled: true };
}

/** Matches a header or the path, case folded: `value` is compared in lower case. */
function matches(fieldToMatch: wafv2.CfnWebACL.FieldToMatchProperty, positionalConstraint: 'EXACTLY' | 'STARTS_WITH',
  value: string): wafv2.CfnWebACL.StatementProperty {
  return {
    byteMatchStatement: {
      fieldToMatch,
      positionalConstraint,
      searchString: value.toLowerCase(),
      textTransformations: [{ priority: 0, type: 'LOWERCASE' }],
    },
  };
}

function anyOf(statements: wafv2.CfnWebACL.StatementProperty[]): wafv2.CfnWebACL.StatementProperty {
  return statements.length === 1 ? statements[0]! : { orStatement: { statements } };
}

interface WebAclLogging {
  /** The ACL's name; the group is `aws-waf-logs-<name>`. */
  readonly name: string;
  /** Headers (lower case) whose values never reach the logs. */
  readonly redactedHeaders: readonly string[];
  /** The rule actions whose requests are logged: only what a rule acted on, since every allowed request would cost ingestion for nothing. */
  readonly actions: readonly string[];
}

/**
 * Logs a web ACL to its own log group (30 days), as `Logs` and `Logging` in `scope`, and returns
 * the group.
 */
function logWebAcl(scope: Construct, webAcl: wafv2.CfnWebACL, logging: WebAclLogging): logs.LogGroup {
  const logGroup = new logs.LogGroup(scope, 'Logs', {
    logGroupName: `${WAF_LOG_GROUP_PREFIX}${logging.name}`,
    retention: logs.RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  new wafv2.CfnLoggingConfiguration(scope, 'Logging', {
    resourceArn: webAcl.attrArn,
    // WAF takes the group's ARN without the `:*` that logGroupArn ends with.
    logDestinationConfigs: [Stack.of(scope).formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: logGroup.logGroupName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    })],
    redactedFields: logging.redactedHeaders.map((header) => ({ singleHeader: { Name: header } })),
    loggingFilter: {
      DefaultBehavior: 'DROP',
      Filters: [{
        Behavior: 'KEEP',
        Requirement: 'MEETS_ANY',
        Conditions: logging.actions.map((action) => ({ ActionCondition: { Action: action } })),
      }],
    },
  });
  return logGroup;
}

export interface ApiFirewallProps {
  readonly loadBalancer: elbv2.IApplicationLoadBalancer;
  /** Requests per 5 minutes from one viewer IP before it is blocked. */
  readonly rateLimit: number;
  /** Starts the names of the ACL, its metrics and its log group. */
  readonly namePrefix: string;
}

export class ApiFirewall extends Construct {
  readonly webAcl: wafv2.CfnWebACL;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ApiFirewallProps) {
    super(scope, id);

    const name = `${props.namePrefix}catalog-api`;
    const managed = (ruleGroup: string, priority: number, countOnly: readonly string[] = []): wafv2.CfnWebACL.RuleProperty => ({
      name: ruleGroup,
      priority,
      overrideAction: { none: {} },
      statement: {
        managedRuleGroupStatement: {
          vendorName: 'AWS',
          name: ruleGroup,
          ruleActionOverrides: countOnly.length === 0
            ? undefined
            : countOnly.map((rule) => ({ name: rule, actionToUse: { count: {} } })),
        },
      },
      visibilityConfig: visibility(name, ruleGroup),
    });
    const labels = Object.values(BODY_RULES_EXCEPT_UPLOAD).map((key) => ({ labelMatchStatement: { scope: 'LABEL', key } }));

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name,
      description: 'Catalog API: rate limit per viewer IP, AWS managed common and known-bad-input rules',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(name, 'all'),
      rules: [
        {
          name: 'RateLimitPerViewerIp',
          priority: 0,
          action: { block: {} },
          statement: {
            rateBasedStatement: {
              limit: props.rateLimit,
              evaluationWindowSec: 300,
              aggregateKeyType: 'FORWARDED_IP',
              // A request without the header did not come through CloudFront (the listener refuses
              // it anyway): it counts, and is limited, rather than slipping past the rule.
              forwardedIpConfig: { headerName: VIEWER_IP_HEADER, fallbackBehavior: 'MATCH' },
            },
          },
          visibilityConfig: visibility(name, 'rate-limit'),
        },
        managed('AWSManagedRulesKnownBadInputsRuleSet', 1),
        managed('AWSManagedRulesCommonRuleSet', 2, Object.keys(BODY_RULES_EXCEPT_UPLOAD)),
        {
          name: 'BodyRulesExceptUpload',
          priority: 3,
          action: { block: {} },
          statement: {
            andStatement: {
              statements: [
                labels.length === 1 ? labels[0]! : { orStatement: { statements: labels } },
                {
                  notStatement: {
                    statement: {
                      byteMatchStatement: {
                        fieldToMatch: { uriPath: {} },
                        positionalConstraint: 'EXACTLY',
                        searchString: UPLOAD_PATH,
                        textTransformations: [{ priority: 0, type: 'NONE' }],
                      },
                    },
                  },
                },
              ],
            },
          },
          visibilityConfig: visibility(name, 'body-rules-except-upload'),
        },
      ],
    });

    new wafv2.CfnWebACLAssociation(this, 'LoadBalancer', {
      resourceArn: props.loadBalancer.loadBalancerArn,
      webAclArn: this.webAcl.attrArn,
    });

    this.logGroup = logWebAcl(this, this.webAcl, {
      name,
      redactedHeaders: ['authorization', FORWARDED_AUTHORIZATION_HEADER, ORIGIN_VERIFY_HEADER].map((header) => header.toLowerCase()),
      actions: ['BLOCK', 'COUNT', 'EXCLUDED_AS_COUNT'],
    });
  }
}

export interface SignUpFirewallProps {
  readonly userPool: cognito.IUserPool;
  /** Starts the names of the ACL, its metrics and its log group. */
  readonly namePrefix: string;
}

/** The user pool's web ACL while sellers sign themselves up: see the module comment for its rules. */
export class SignUpFirewall extends Construct {
  readonly webAcl: wafv2.CfnWebACL;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: SignUpFirewallProps) {
    super(scope, id);

    const name = `${props.namePrefix}catalog-sellers`;
    const target = (value: string) => matches({ singleHeader: { Name: 'x-amz-target' } }, 'EXACTLY', value);
    const signUpApi = target(SIGN_UP_API_TARGETS.signUp);
    const signUpPage = matches({ uriPath: {} }, 'STARTS_WITH', SIGN_UP_PATH);

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name,
      description: 'Catalog sellers: sign-up rate limit per IP, sign-up through the hosted UI only, CAPTCHA on its sign-up page',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(name, 'all'),
      captchaConfig: { immunityTimeProperty: { immunityTime: CAPTCHA_IMMUNITY.toSeconds() } },
      rules: [
        {
          name: 'SignUpRateLimitPerIp',
          priority: 0,
          action: { block: {} },
          statement: {
            rateBasedStatement: {
              limit: SIGN_UP_RATE_LIMIT,
              evaluationWindowSec: 300,
              // Cognito is reached directly, so the peer is the client.
              aggregateKeyType: 'IP',
              scopeDownStatement: anyOf([signUpPage, signUpApi, target(SIGN_UP_API_TARGETS.resendCode)]),
            },
          },
          visibilityConfig: visibility(name, 'sign-up-rate-limit'),
        },
        {
          name: 'SignUpApiBlocked',
          priority: 1,
          action: { block: {} },
          statement: signUpApi,
          visibilityConfig: visibility(name, 'sign-up-api'),
        },
        {
          name: 'SignUpPageCaptcha',
          priority: 2,
          action: { captcha: {} },
          statement: signUpPage,
          visibilityConfig: visibility(name, 'sign-up-captcha'),
        },
      ],
    });

    new wafv2.CfnWebACLAssociation(this, 'UserPool', {
      resourceArn: props.userPool.userPoolArn,
      webAclArn: this.webAcl.attrArn,
    });

    this.logGroup = logWebAcl(this, this.webAcl, {
      name,
      // The hosted UI's session is in its cookies; a confidential client's secret would be in Authorization.
      redactedHeaders: ['authorization', 'cookie'],
      actions: ['BLOCK', 'CAPTCHA', 'COUNT', 'EXCLUDED_AS_COUNT'],
    });
  }
}
