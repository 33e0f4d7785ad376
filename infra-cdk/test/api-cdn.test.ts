/** The API's CloudFront distribution: what is cached, what passes through, and how it reaches the load balancer. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import { logicalIdOf, resourcesOf, synth, WITH_CERTIFICATE } from './synth';

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

test('the public-read cache key holds Authorization and Origin, every query string, no cookie', () => {
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
  assert.deepEqual(headers.asArray(), ['Authorization', 'Origin']);
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

test('writes and preflights on the public read paths get Idempotency-Key, Content-Type and the CORS request headers', () => {
  const { services } = synth();
  const policy = logicalIdOf(services, 'AWS::CloudFront::OriginRequestPolicy');
  services.hasResourceProperties('AWS::CloudFront::OriginRequestPolicy', {
    OriginRequestPolicyConfig: Match.objectLike({
      HeadersConfig: { HeaderBehavior: 'whitelist', Headers: Match.arrayWith([
        'Idempotency-Key', 'Content-Type', 'Access-Control-Request-Method', 'Access-Control-Request-Headers', 'X-Catalog-Viewer-Ip',
      ]) },
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

test("every path writes the viewer's IP into X-Catalog-Viewer-Ip for the web ACL", () => {
  const { services } = synth();
  const fn = logicalIdOf(services, 'AWS::CloudFront::Function');
  services.hasResourceProperties('AWS::CloudFront::Function', {
    Name: 'test-catalog-api-viewer-ip',
    FunctionCode: Match.stringLikeRegexp("headers\\['x-catalog-viewer-ip'\\] = \\{ value: event\\.viewer\\.ip \\}"),
  });
  for (const config of [api().DefaultCacheBehavior, ...api().CacheBehaviors]) {
    assert.deepEqual(config.FunctionAssociations, [{ EventType: 'viewer-request', FunctionARN: { 'Fn::GetAtt': [fn, 'FunctionARN'] } }]);
  }
});

test('the origin is the load balancer, reached with the secret header it requires', () => {
  const { services } = synth();
  const [origin] = api().Origins;
  assert.deepEqual(origin.DomainName, { 'Fn::GetAtt': [logicalIdOf(services, 'AWS::ElasticLoadBalancingV2::LoadBalancer'), 'DNSName'] });
  assert.deepEqual(origin.OriginCustomHeaders, [{
    HeaderName: 'X-Catalog-Origin-Verify',
    HeaderValue: { 'Fn::Join': ['', [
      '{{resolve:secretsmanager:', { Ref: logicalIdOf(services, 'AWS::SecretsManager::Secret') }, ':SecretString:::}}',
    ]] },
  }]);
});

test('without a certificate CloudFront reaches the load balancer over HTTP', () => {
  assert.equal(api().Origins[0].CustomOriginConfig.OriginProtocolPolicy, 'http-only');
});

test('with a certificate CloudFront reaches the origin by apiOriginDomain over HTTPS, TLS 1.2', () => {
  const [origin] = api(synth(WITH_CERTIFICATE).services).Origins;
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
