/** The API's CloudFront distribution: what is cached, what passes through, and how it reaches the load balancer. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as vm from 'node:vm';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import { FORWARDED_AUTHORIZATION_HEADER } from '../lib/api-cdn';
import { DEVELOPMENT, logicalIdOf, resourcesOf, synth, WITH_CERTIFICATE } from './synth';

/** Managed policies: caching disabled, and all viewer headers but Host with every query string and cookie. */
const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';
const ALL_METHODS = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE'];

/** The API distribution's config. */
function api(template: Template = synth().services): Record<string, any> {
  return resourcesOf(template)[logicalIdOf(template, 'AWS::CloudFront::Distribution', /"Catalog API"/)]!.Properties!['DistributionConfig'];
}

function behavior(path: string): Record<string, any> {
  const found = (api().CacheBehaviors as Record<string, any>[]).find((candidate) => candidate.PathPattern === path);
  assert.ok(found, path);
  return found;
}

test('the public read paths are cached, the history first passes through (CloudFront takes the first match)', () => {
  assert.deepEqual((api().CacheBehaviors as { PathPattern: string }[]).map((candidate) => candidate.PathPattern),
    ['/v1/photos/*/history', '/v1/photos/*', '/v1/products/*']);
});

test('public reads are cached only as the API allows: nothing unmarked, never private answers, at most 60 s', () => {
  synth().services.hasResourceProperties('AWS::CloudFront::CachePolicy', {
    CachePolicyConfig: Match.objectLike({ Name: 'test-catalog-api-public-reads', MinTTL: 0, DefaultTTL: 0, MaxTTL: 60 }),
  });
});

test('the public-read cache key holds Origin, not Authorization, every query string, no cookie', () => {
  const headers = new Capture();
  synth().services.hasResourceProperties('AWS::CloudFront::CachePolicy', {
    CachePolicyConfig: Match.objectLike({ ParametersInCacheKeyAndForwardedToOrigin: {
      HeadersConfig: { HeaderBehavior: 'whitelist', Headers: headers },
      QueryStringsConfig: { QueryStringBehavior: 'all' },
      CookiesConfig: { CookieBehavior: 'none' },
      EnableAcceptEncodingGzip: true,
      EnableAcceptEncodingBrotli: true,
    } }),
  });
  assert.deepEqual(headers.asArray(), ['Origin']);
});

test('the public read paths use that cache policy and cache GET and HEAD only', () => {
  const { services } = synth();
  const policy = logicalIdOf(services, 'AWS::CloudFront::CachePolicy');
  for (const path of ['/v1/photos/*', '/v1/products/*']) {
    assert.deepEqual(behavior(path).CachePolicyId, { Ref: policy }, path);
    assert.deepEqual(behavior(path).CachedMethods, ['GET', 'HEAD'], path);
  }
});

test('every method reaches the public read paths (writes and CORS preflights share them)', () => {
  for (const path of ['/v1/photos/*', '/v1/products/*']) {
    assert.deepEqual(behavior(path).AllowedMethods, ALL_METHODS, path);
  }
});

test('the public read paths forward the token as X-Catalog-Authorization, and, for writes and preflights, Idempotency-Key, Content-Type and the CORS request headers', () => {
  const { services } = synth();
  const policy = logicalIdOf(services, 'AWS::CloudFront::OriginRequestPolicy');
  assert.equal(FORWARDED_AUTHORIZATION_HEADER, 'X-Catalog-Authorization');
  services.hasResourceProperties('AWS::CloudFront::OriginRequestPolicy', {
    OriginRequestPolicyConfig: Match.objectLike({
      HeadersConfig: { HeaderBehavior: 'whitelist', Headers: [
        'X-Catalog-Authorization', 'Idempotency-Key', 'Content-Type', 'Access-Control-Request-Method', 'Access-Control-Request-Headers',
        'X-Catalog-Viewer-Ip',
      ] },
    }),
  });
  for (const path of ['/v1/photos/*', '/v1/products/*']) {
    assert.deepEqual(behavior(path).OriginRequestPolicyId, { Ref: policy }, path);
  }
});

test("everything else passes through uncached with all the viewer's headers (Authorization too), query strings and cookies", () => {
  for (const config of [api().DefaultCacheBehavior, behavior('/v1/photos/*/history')]) {
    assert.equal(config.CachePolicyId, CACHING_DISABLED);
    assert.equal(config.OriginRequestPolicyId, ALL_VIEWER_EXCEPT_HOST_HEADER);
    assert.deepEqual(config.AllowedMethods, ALL_METHODS);
    assert.equal(config.CachedMethods, undefined);
  }
});

test('viewers must use HTTPS on every path', () => {
  for (const config of [api().DefaultCacheBehavior, ...api().CacheBehaviors]) {
    assert.equal(config.ViewerProtocolPolicy, 'https-only', config.PathPattern);
  }
});

test('error answers are never cached', () => {
  const errors = api().CustomErrorResponses as { ErrorCode: number; ErrorCachingMinTTL: number }[];
  assert.deepEqual(errors.map((error) => error.ErrorCode), [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504]);
  assert.ok(errors.every((error) => error.ErrorCachingMinTTL === 0));
});

/** The viewer-request functions by name, with the ids the behaviours associate. */
function functions(): Record<string, { id: string; code: string }> {
  const { services } = synth();
  return Object.fromEntries(Object.entries(resourcesOf(services, 'AWS::CloudFront::Function'))
    .map(([id, fn]) => [fn.Properties!['Name'] as string, { id, code: fn.Properties!['FunctionCode'] as string }]));
}

/** The headers (lower case, name to value) that a viewer-request function's code sends on, for a request with `headers`. */
function runFunction(code: string, headers: Record<string, string>): Record<string, string> {
  const handler = vm.runInNewContext(`${code}\nhandler`) as (event: unknown) => { headers: Record<string, { value: string }> };
  const request = { method: 'GET', uri: '/v1/photos/p1', headers: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, { value }])) };
  const result = handler({ version: '1.0', viewer: { ip: '198.51.100.7' }, request });
  return Object.fromEntries(Object.entries(result.headers).map(([name, header]) => [name, header.value]));
}

test('there are two viewer-request functions: the viewer IP alone, and the public reads\' (the IP and the moved token)', () => {
  assert.deepEqual(Object.keys(functions()).sort(), ['test-catalog-api-public-read', 'test-catalog-api-viewer-ip']);
  for (const fn of Object.values(functions())) {
    assert.match(fn.code, /headers\['x-catalog-viewer-ip'\] = \{ value: event\.viewer\.ip \}/);
  }
});

test("the pass-through paths write the viewer's IP and leave Authorization to their policy, which forwards it", () => {
  const fn = functions()['test-catalog-api-viewer-ip']!;
  assert.doesNotMatch(fn.code, /authorization/i);
  assert.deepEqual(runFunction(fn.code, { authorization: 'Bearer t', 'x-catalog-viewer-ip': '203.0.113.1' }),
    { authorization: 'Bearer t', 'x-catalog-viewer-ip': '198.51.100.7' });
  for (const config of [api().DefaultCacheBehavior, behavior('/v1/photos/*/history')]) {
    assert.deepEqual(config.FunctionAssociations, [{ EventType: 'viewer-request', FunctionARN: { 'Fn::GetAtt': [fn.id, 'FunctionARN'] } }]);
  }
});

test("the public read paths move the viewer's Authorization into X-Catalog-Authorization, and write the viewer's IP", () => {
  const fn = functions()['test-catalog-api-public-read']!;
  assert.match(fn.code, /headers\['x-catalog-authorization'\] = \{ value: headers\['authorization'\]\.value \}/);
  assert.match(fn.code, /delete headers\['authorization'\]/);
  assert.match(fn.code, /delete headers\['x-catalog-authorization'\]/);
  for (const path of ['/v1/photos/*', '/v1/products/*']) {
    assert.deepEqual(behavior(path).FunctionAssociations, [{ EventType: 'viewer-request', FunctionARN: { 'Fn::GetAtt': [fn.id, 'FunctionARN'] } }], path);
  }
  // The token moves; what the client wrote into the forwarded header never survives.
  assert.deepEqual(runFunction(fn.code, { authorization: 'Bearer t', 'x-catalog-authorization': 'Bearer forged', origin: 'https://a.example.com' }),
    { 'x-catalog-authorization': 'Bearer t', 'x-catalog-viewer-ip': '198.51.100.7', origin: 'https://a.example.com' });
  assert.deepEqual(runFunction(fn.code, { 'x-catalog-authorization': 'Bearer forged', 'x-catalog-viewer-ip': '203.0.113.1' }),
    { 'x-catalog-viewer-ip': '198.51.100.7' });
  assert.deepEqual(runFunction(fn.code, {}), { 'x-catalog-viewer-ip': '198.51.100.7' });
});

test('in development the origin is the load balancer itself, reached with the secret header it requires', () => {
  const { services } = synth(DEVELOPMENT);
  const [origin] = api(services).Origins;
  assert.deepEqual(origin.DomainName, { 'Fn::GetAtt': [logicalIdOf(services, 'AWS::ElasticLoadBalancingV2::LoadBalancer'), 'DNSName'] });
  assert.deepEqual(origin.OriginCustomHeaders, [{
    HeaderName: 'X-Catalog-Origin-Verify',
    HeaderValue: { 'Fn::Join': ['', [
      '{{resolve:secretsmanager:', { Ref: logicalIdOf(services, 'AWS::SecretsManager::Secret') }, ':SecretString:::}}',
    ]] },
  }]);
});

test('only in development, without a certificate, CloudFront reaches the load balancer over HTTP', () => {
  assert.equal(api(synth(DEVELOPMENT).services).Origins[0].CustomOriginConfig.OriginProtocolPolicy, 'http-only');
});

test('CloudFront reaches the origin by apiOriginDomain over HTTPS, TLS 1.2, with the secret header', () => {
  const { services } = synth();
  const [origin] = api(services).Origins;
  assert.equal(origin.OriginCustomHeaders[0].HeaderName, 'X-Catalog-Origin-Verify');
  assert.equal(origin.DomainName, WITH_CERTIFICATE['apiOriginDomain']);
  assert.equal(origin.CustomOriginConfig.OriginProtocolPolicy, 'https-only');
  assert.deepEqual(origin.CustomOriginConfig.OriginSSLProtocols, ['TLSv1.2']);
});

test('the distribution logs to the log bucket', () => {
  assert.deepEqual(api().Logging.Prefix, 'cloudfront-api/');
  assert.match(JSON.stringify(api().Logging.Bucket), /StorageLogs/);
});

test('ApiUrl is the distribution', () => {
  const { services } = synth();
  services.hasOutput('ApiUrl', {
    Value: { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [logicalIdOf(services, 'AWS::CloudFront::Distribution', /"Catalog API"/), 'DomainName'] }]] },
  });
});
