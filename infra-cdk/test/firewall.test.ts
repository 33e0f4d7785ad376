/** The web ACL on the load balancer: rate limit per viewer IP, managed rules, uploads let through, logs. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Capture } from 'aws-cdk-lib/assertions';
import { logicalIdOf, PREFIX, resourcesOf, synth } from './synth';

/** The web ACL's rules by name. */
function rules(extra: Record<string, string> = {}): Record<string, Record<string, any>> {
  const acl = Object.values(resourcesOf(synth(extra).services, 'AWS::WAFv2::WebACL'))[0]!;
  return Object.fromEntries((acl.Properties!['Rules'] as Record<string, any>[]).map((rule) => [rule.Name, rule]));
}

test('a REGIONAL web ACL protects the load balancer', () => {
  const { services } = synth();
  services.hasResourceProperties('AWS::WAFv2::WebACL', { Scope: 'REGIONAL', DefaultAction: { Allow: {} } });
  services.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
    ResourceArn: { Ref: logicalIdOf(services, 'AWS::ElasticLoadBalancingV2::LoadBalancer') },
    WebACLArn: { 'Fn::GetAtt': [logicalIdOf(services, 'AWS::WAFv2::WebACL'), 'Arn'] },
  });
});

test('one viewer IP may send 2000 requests per 5 minutes, counted by the IP CloudFront writes', () => {
  const rule = rules()['RateLimitPerViewerIp']!;
  assert.deepEqual(rule.Action, { Block: {} });
  assert.deepEqual(rule.Statement.RateBasedStatement, {
    Limit: 2000,
    EvaluationWindowSec: 300,
    AggregateKeyType: 'FORWARDED_IP',
    ForwardedIPConfig: { HeaderName: 'X-Catalog-Viewer-Ip', FallbackBehavior: 'MATCH' },
  });
  assert.equal(rule.Priority, 0, 'before the managed rules');
});

test('wafRateLimit sets the limit', () => {
  assert.equal(rules({ wafRateLimit: '500' })['RateLimitPerViewerIp']!.Statement.RateBasedStatement.Limit, 500);
});

test("AWS's known-bad-inputs and common rule sets apply", () => {
  for (const name of ['AWSManagedRulesKnownBadInputsRuleSet', 'AWSManagedRulesCommonRuleSet']) {
    const rule = rules()[name]!;
    assert.deepEqual(rule.OverrideAction, { None: {} }, name);
    assert.equal(rule.Statement.ManagedRuleGroupStatement.VendorName, 'AWS', name);
    assert.equal(rule.Statement.ManagedRuleGroupStatement.Name, name);
  }
});

test('SizeRestrictions_BODY (and CrossSiteScripting_BODY) only count, so uploads pass the common rule set', () => {
  const overrides = rules()['AWSManagedRulesCommonRuleSet']!.Statement.ManagedRuleGroupStatement.RuleActionOverrides;
  assert.deepEqual(overrides, [
    { Name: 'SizeRestrictions_BODY', ActionToUse: { Count: {} } },
    { Name: 'CrossSiteScripting_BODY', ActionToUse: { Count: {} } },
  ]);
});

test("their labels are blocked after the common rule set on every path but POST /v1/photos/upload's", () => {
  const all = rules();
  const rule = all['BodyRulesExceptUpload']!;
  assert.deepEqual(rule.Action, { Block: {} });
  assert.ok(rule.Priority > all['AWSManagedRulesCommonRuleSet']!.Priority, 'labels exist only after the group ran');
  assert.deepEqual(rule.Statement.AndStatement.Statements, [
    { OrStatement: { Statements: [
      { LabelMatchStatement: { Scope: 'LABEL', Key: 'awswaf:managed:aws:core-rule-set:SizeRestrictions_Body' } },
      { LabelMatchStatement: { Scope: 'LABEL', Key: 'awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body' } },
    ] } },
    { NotStatement: { Statement: { ByteMatchStatement: {
      FieldToMatch: { UriPath: {} },
      PositionalConstraint: 'EXACTLY',
      SearchString: '/v1/photos/upload',
      TextTransformations: [{ Priority: 0, Type: 'NONE' }],
    } } } },
  ]);
});

test('blocked and counted requests are logged to an aws-waf-logs- group, without the token or the origin secret', () => {
  const { services } = synth();
  const group = logicalIdOf(services, 'AWS::Logs::LogGroup', /aws-waf-logs-/);
  services.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: `aws-waf-logs-${PREFIX}catalog-api`, RetentionInDays: 30 });
  const filter = new Capture();
  services.hasResourceProperties('AWS::WAFv2::LoggingConfiguration', {
    ResourceArn: { 'Fn::GetAtt': [logicalIdOf(services, 'AWS::WAFv2::WebACL'), 'Arn'] },
    // The group's ARN without the `:*` WAF refuses.
    LogDestinationConfigs: [{ 'Fn::Join': ['', [
      'arn:', { Ref: 'AWS::Partition' }, ':logs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':log-group:', { Ref: group },
    ]] }],
    RedactedFields: [{ SingleHeader: { Name: 'authorization' } }, { SingleHeader: { Name: 'x-catalog-origin-verify' } }],
    LoggingFilter: filter,
  });
  assert.equal(filter.asObject()['DefaultBehavior'], 'DROP');
  assert.match(JSON.stringify(filter.asObject()['Filters']), /"Behavior":"KEEP".*"BLOCK".*"COUNT"/);
});
