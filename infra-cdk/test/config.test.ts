/** Context values: defaults, and the refusals that name what is wrong. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { App } from 'aws-cdk-lib';
import { CatalogConfig, configFromContext, DEFAULT_WAF_RATE_LIMIT } from '../lib/config';

function config(extra: Record<string, unknown> = {}): CatalogConfig {
  return configFromContext(new App({ context: { imageTag: 't', resourcePrefix: 'p-', ...extra } }).node);
}

test('the optional lists are empty and the rate limit is 2000 unless given', () => {
  const defaults = config();
  assert.deepEqual(defaults.pageCallbackUrls, []);
  assert.deepEqual(defaults.corsOrigins, []);
  assert.equal(defaults.wafRateLimit, DEFAULT_WAF_RATE_LIMIT);
  assert.equal(DEFAULT_WAF_RATE_LIMIT, 2000);
});

test('comma-separated lists are trimmed, empty entries dropped', () => {
  const parsed = config({ corsOrigins: ' https://a.example.com , https://b.example.com:8443,', pageCallbackUrls: 'https://a.example.com/cb ,' });
  assert.deepEqual(parsed.corsOrigins, ['https://a.example.com', 'https://b.example.com:8443']);
  assert.deepEqual(parsed.pageCallbackUrls, ['https://a.example.com/cb']);
});

test('a CORS origin must be an origin: no path, no trailing slash, https (or localhost)', () => {
  for (const bad of ['https://a.example.com/', 'https://a.example.com/app', 'http://a.example.com', 'a.example.com']) {
    assert.throws(() => config({ corsOrigins: bad }), /context corsOrigins/, bad);
  }
  assert.deepEqual(config({ corsOrigins: 'http://localhost:5173' }).corsOrigins, ['http://localhost:5173']);
});

test('a callback URL must be https (or http://localhost) without a fragment', () => {
  for (const bad of ['http://sellers.example.com/', 'https://sellers.example.com/#x', 'not a url']) {
    assert.throws(() => config({ pageCallbackUrls: bad }), /context pageCallbackUrls/, bad);
  }
  assert.deepEqual(config({ pageCallbackUrls: 'http://localhost:5173/' }).pageCallbackUrls, ['http://localhost:5173/']);
});

test('wafRateLimit is a whole number WAF accepts, from the command line (text) or cdk.json (number)', () => {
  assert.equal(config({ wafRateLimit: '5000' }).wafRateLimit, 5000);
  assert.equal(config({ wafRateLimit: 300 }).wafRateLimit, 300);
  for (const bad of ['9', '2.5', 'lots', '2000000001']) {
    assert.throws(() => config({ wafRateLimit: bad }), /context wafRateLimit/, bad);
  }
});

test('certificateArn and apiOriginDomain go together', () => {
  const certificateArn = 'arn:aws:acm:us-east-1:123456789012:certificate/x';
  assert.throws(() => config({ certificateArn }), /certificateArn and apiOriginDomain go together/);
  assert.throws(() => config({ apiOriginDomain: 'api-origin.example.com' }), /certificateArn and apiOriginDomain go together/);
  assert.throws(() => config({ certificateArn, apiOriginDomain: 'https://api-origin.example.com' }), /context apiOriginDomain/);
  assert.equal(config({ certificateArn, apiOriginDomain: 'api-origin.example.com' }).apiOriginDomain, 'api-origin.example.com');
});
