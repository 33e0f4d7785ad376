/** Context values: defaults, and the refusals that name what is wrong. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { App } from 'aws-cdk-lib';
import { CatalogConfig, configFromContext, DEFAULT_WAF_RATE_LIMIT } from '../lib/config';

const TLS = { certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/x', apiOriginDomain: 'api-origin.example.com' };

/** The config of a production deployment (a certificate and its name) with `extra`; `undefined` removes a value. */
function config(extra: Record<string, unknown> = {}): CatalogConfig {
  const context = Object.fromEntries(Object.entries({ imageTag: 't', resourcePrefix: 'p-', ...TLS, ...extra })
    .filter(([, value]) => value !== undefined));
  return configFromContext(new App({ context }).node);
}

test('the optional lists are empty, the rate limit is 2000, and sign-up and development are off unless given', () => {
  const defaults = config();
  assert.deepEqual(defaults.pageCallbackUrls, []);
  assert.deepEqual(defaults.corsOrigins, []);
  assert.deepEqual(defaults.uploadOrigins, []);
  assert.equal(defaults.wafRateLimit, DEFAULT_WAF_RATE_LIMIT);
  assert.equal(DEFAULT_WAF_RATE_LIMIT, 2000);
  assert.equal(defaults.selfSignUp, false);
  assert.equal(defaults.sesEmail, undefined);
  assert.equal(defaults.development, false);
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
  const { certificateArn } = TLS;
  for (const development of [undefined, 'true']) {
    assert.throws(() => config({ development, apiOriginDomain: undefined }), /certificateArn and apiOriginDomain go together/);
    assert.throws(() => config({ development, certificateArn: undefined }), /certificateArn and apiOriginDomain go together/);
  }
  assert.throws(() => config({ certificateArn, apiOriginDomain: 'https://api-origin.example.com' }), /context apiOriginDomain/);
  assert.equal(config({ certificateArn, apiOriginDomain: 'api-origin.example.com' }).apiOriginDomain, 'api-origin.example.com');
});

test('a production deployment requires certificateArn and apiOriginDomain; the error names both and development=true', () => {
  const withoutTls = { certificateArn: undefined, apiOriginDomain: undefined };
  for (const development of [undefined, 'false', false]) {
    assert.throws(() => config({ ...withoutTls, development }),
      (error: Error) => /certificateArn/.test(error.message) && /apiOriginDomain/.test(error.message)
        && /-c development=true/.test(error.message), String(development));
  }
});

test('development=true (text or boolean) lets a deployment reach the load balancer over HTTP', () => {
  for (const development of ['true', true]) {
    const parsed = config({ certificateArn: undefined, apiOriginDomain: undefined, development });
    assert.equal(parsed.development, true);
    assert.equal(parsed.certificateArn, undefined);
  }
  assert.equal(config({ development: 'true' }).apiOriginDomain, TLS.apiOriginDomain, 'a development deployment may have TLS too');
  assert.throws(() => config({ development: 'yes' }), /context development: expected true or false/);
});

test('self sign-up is off unless selfSignUp=true, which requires an SES sender (sesFromEmail)', () => {
  assert.equal(config({ selfSignUp: 'false' }).selfSignUp, false);
  assert.throws(() => config({ selfSignUp: 'true' }), /context selfSignUp=true requires sesFromEmail/);
  assert.throws(() => config({ selfSignUp: 'on' }), /context selfSignUp: expected true or false/);
  const parsed = config({ selfSignUp: 'true', sesFromEmail: 'sellers@example.com' });
  assert.equal(parsed.selfSignUp, true);
  assert.deepEqual(parsed.sesEmail, { fromEmail: 'sellers@example.com', region: undefined });
});

test('sesFromEmail is an e-mail address, sesRegion a region name and only beside it; SES without self sign-up is allowed', () => {
  for (const bad of ['sellers', 'sellers@', 'Sellers <sellers@example.com>', 'a b@example.com']) {
    assert.throws(() => config({ sesFromEmail: bad }), /context sesFromEmail/, bad);
  }
  for (const bad of ['EU-WEST-1', 'eu-west', 'europe']) {
    assert.throws(() => config({ sesFromEmail: 'sellers@example.com', sesRegion: bad }), /context sesRegion/, bad);
  }
  assert.throws(() => config({ sesRegion: 'eu-west-1' }), /context sesRegion: only with sesFromEmail/);
  assert.deepEqual(config({ sesFromEmail: 'no-reply@mail.example.com', sesRegion: 'eu-west-1' }).sesEmail,
    { fromEmail: 'no-reply@mail.example.com', region: 'eu-west-1' });
  assert.equal(config({ sesFromEmail: 'no-reply@mail.example.com' }).selfSignUp, false);
});

test('uploadOrigins are origins like corsOrigins: never *, no path, https (or localhost)', () => {
  for (const bad of ['*', 'https://*.example.com', 'https://shop.example.com/', 'http://shop.example.com']) {
    assert.throws(() => config({ uploadOrigins: bad }), /context uploadOrigins/, bad);
  }
  assert.deepEqual(config({ uploadOrigins: 'https://shop.example.com, http://localhost:5173,' }).uploadOrigins,
    ['https://shop.example.com', 'http://localhost:5173']);
});
