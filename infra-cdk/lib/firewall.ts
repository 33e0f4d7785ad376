/**
 * The web ACL of the API: REGIONAL, on the load balancer, so it sees every request that reaches
 * the services (cache hits at CloudFront never do, and need no inspection). A CLOUDFRONT ACL
 * would have to live in us-east-1, and the stacks fix no region.
 *
 * Rules, in order:
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
 * Blocked and counted requests are logged to CloudWatch Logs (the group's name must start with
 * `aws-waf-logs-`), without the `Authorization` and origin-verify headers.
 */
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { VIEWER_IP_HEADER } from './api-cdn';
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
    const visibility = (metric: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      metricName: `${name}-${metric}`,
      sampledRequestsEnabled: true,
    });
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
      visibilityConfig: visibility(ruleGroup),
    });
    const labels = Object.values(BODY_RULES_EXCEPT_UPLOAD).map((key) => ({ labelMatchStatement: { scope: 'LABEL', key } }));

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name,
      description: 'Catalog API: rate limit per viewer IP, AWS managed common and known-bad-input rules',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('all'),
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
          visibilityConfig: visibility('rate-limit'),
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
          visibilityConfig: visibility('body-rules-except-upload'),
        },
      ],
    });

    new wafv2.CfnWebACLAssociation(this, 'LoadBalancer', {
      resourceArn: props.loadBalancer.loadBalancerArn,
      webAclArn: this.webAcl.attrArn,
    });

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `${WAF_LOG_GROUP_PREFIX}${name}`,
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    new wafv2.CfnLoggingConfiguration(this, 'Logging', {
      resourceArn: this.webAcl.attrArn,
      // WAF takes the group's ARN without the `:*` that logGroupArn ends with.
      logDestinationConfigs: [Stack.of(this).formatArn({
        service: 'logs',
        resource: 'log-group',
        resourceName: this.logGroup.logGroupName,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      })],
      redactedFields: [
        { singleHeader: { Name: 'authorization' } },
        { singleHeader: { Name: ORIGIN_VERIFY_HEADER.toLowerCase() } },
      ],
      // Only what a rule acted on: every allowed request would cost ingestion for nothing.
      loggingFilter: {
        DefaultBehavior: 'DROP',
        Filters: [{
          Behavior: 'KEEP',
          Requirement: 'MEETS_ANY',
          Conditions: ['BLOCK', 'COUNT', 'EXCLUDED_AS_COUNT'].map((action) => ({ ActionCondition: { Action: action } })),
        }],
      },
    });
  }
}
