/**
 * The web ACL on the load balancer (rate limit per viewer IP, managed rules, uploads let through,
 * logs), and the one on the user pool while sellers sign themselves up.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Capture, Template } from 'aws-cdk-lib/assertions';
import { Context, logicalIdOf, PREFIX, resourcesOf, SELF_SIGN_UP, synth } from './synth';

/** The rules by name of the only web ACL in `template`. */
function rulesOf(template: Template): Record<string, Record<string, any>> {
  const acls = Object.values(resourcesOf(template, 'AWS::WAFv2::WebACL'));
  assert.equal(acls.length, 1);
  return Object.fromEntries((acls[0]!.Properties!['Rules'] as Record<string, any>[]).map((rule) => [rule.Name, rule]));
}

/** The API web ACL's rules by name. */
function rules(extra: Context = {}): Record<string, Record<string, any>> {
  return rulesOf(synth(extra).services);
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

test('blocked and counted requests are logged to an aws-waf-logs- group, without the tokens or the origin secret', () => {
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
    RedactedFields: [
      { SingleHeader: { Name: 'authorization' } },
      // Where CloudFront moves the token on the public-read paths.
      { SingleHeader: { Name: 'x-catalog-authorization' } },
      { SingleHeader: { Name: 'x-catalog-origin-verify' } },
    ],
    LoggingFilter: filter,
  });
  assert.equal(filter.asObject()['DefaultBehavior'], 'DROP');
  assert.match(JSON.stringify(filter.asObject()['Filters']), /"Behavior":"KEEP".*"BLOCK".*"COUNT"/);
});

/** A byte match of the user pool's ACL: the value compared in lower case. */
function lowerCased(fieldToMatch: Record<string, unknown>, positionalConstraint: string, searchString: string): Record<string, unknown> {
  return { ByteMatchStatement: { FieldToMatch: fieldToMatch, PositionalConstraint: positionalConstraint, SearchString: searchString,
    TextTransformations: [{ Priority: 0, Type: 'LOWERCASE' }] } };
}
const SIGN_UP_PAGE = lowerCased({ UriPath: {} }, 'STARTS_WITH', '/signup');
const SIGN_UP_API = lowerCased({ SingleHeader: { Name: 'x-amz-target' } }, 'EXACTLY', 'awscognitoidentityproviderservice.signup');
const RESEND_CODE_API = lowerCased({ SingleHeader: { Name: 'x-amz-target' } }, 'EXACTLY',
  'awscognitoidentityproviderservice.resendconfirmationcode');

test('without self sign-up the user pool has no web ACL', () => {
  const { data } = synth();
  assert.deepEqual(Object.keys(resourcesOf(data, 'AWS::WAFv2::WebACL')), []);
  assert.deepEqual(Object.keys(resourcesOf(data, 'AWS::WAFv2::WebACLAssociation')), []);
});

test('with self sign-up a REGIONAL web ACL guards the user pool', () => {
  const { data } = synth(SELF_SIGN_UP);
  data.hasResourceProperties('AWS::WAFv2::WebACL', { Name: `${PREFIX}catalog-sellers`, Scope: 'REGIONAL', DefaultAction: { Allow: {} } });
  data.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
    ResourceArn: { 'Fn::GetAtt': [logicalIdOf(data, 'AWS::Cognito::UserPool'), 'Arn'] },
    WebACLArn: { 'Fn::GetAtt': [logicalIdOf(data, 'AWS::WAFv2::WebACL'), 'Arn'] },
  });
});

test("sign-up requests are rate-limited per IP: the hosted UI's /signup, the API's SignUp and ResendConfirmationCode", () => {
  const all = rulesOf(synth(SELF_SIGN_UP).data);
  const rule = all['SignUpRateLimitPerIp']!;
  assert.deepEqual(rule.Action, { Block: {} });
  assert.equal(rule.Priority, 0, 'before the other rules: a flood is blocked, CAPTCHA solved or not');
  assert.deepEqual(rule.Statement.RateBasedStatement, {
    Limit: 20,
    EvaluationWindowSec: 300,
    AggregateKeyType: 'IP',
    ScopeDownStatement: { OrStatement: { Statements: [SIGN_UP_PAGE, SIGN_UP_API, RESEND_CODE_API] } },
  });
});

test("the API's SignUp is blocked, so sellers sign up through the hosted UI, where the CAPTCHA is", () => {
  const rule = rulesOf(synth(SELF_SIGN_UP).data)['SignUpApiBlocked']!;
  assert.deepEqual(rule.Action, { Block: {} });
  assert.deepEqual(rule.Statement, SIGN_UP_API);
});

test("the hosted UI's sign-up page presents a CAPTCHA, and no other rule does (TOTP setup breaks under one)", () => {
  const { data } = synth(SELF_SIGN_UP);
  const all = rulesOf(data);
  assert.deepEqual(Object.keys(all), ['SignUpRateLimitPerIp', 'SignUpApiBlocked', 'SignUpPageCaptcha']);
  assert.deepEqual(all['SignUpPageCaptcha']!.Action, { Captcha: {} });
  assert.deepEqual(all['SignUpPageCaptcha']!.Statement, SIGN_UP_PAGE);
  assert.ok(all['SignUpPageCaptcha']!.Priority > all['SignUpApiBlocked']!.Priority);
  data.hasResourceProperties('AWS::WAFv2::WebACL', { CaptchaConfig: { ImmunityTimeProperty: { ImmunityTime: 600 } } });
});

test("the user pool's ACL logs what it blocks or challenges to its own aws-waf-logs- group, without cookies or Authorization", () => {
  const { data } = synth(SELF_SIGN_UP);
  const group = logicalIdOf(data, 'AWS::Logs::LogGroup', /aws-waf-logs-/);
  data.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: `aws-waf-logs-${PREFIX}catalog-sellers`, RetentionInDays: 30 });
  const filter = new Capture();
  data.hasResourceProperties('AWS::WAFv2::LoggingConfiguration', {
    ResourceArn: { 'Fn::GetAtt': [logicalIdOf(data, 'AWS::WAFv2::WebACL'), 'Arn'] },
    LogDestinationConfigs: [{ 'Fn::Join': ['', [
      'arn:', { Ref: 'AWS::Partition' }, ':logs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':log-group:', { Ref: group },
    ]] }],
    RedactedFields: [{ SingleHeader: { Name: 'authorization' } }, { SingleHeader: { Name: 'cookie' } }],
    LoggingFilter: filter,
  });
  assert.equal(filter.asObject()['DefaultBehavior'], 'DROP');
  assert.match(JSON.stringify(filter.asObject()['Filters']), /"Behavior":"KEEP".*"BLOCK".*"CAPTCHA"/);
});
