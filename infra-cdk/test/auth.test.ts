/** Seller sign-in: the Cognito user pool, its hosted UI, the page's app client, and the APIs' token settings. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { App, Stack } from 'aws-cdk-lib';
import { Capture, Match } from 'aws-cdk-lib/assertions';
import { cognitoDomainPrefix, SellerAuth } from '../lib/auth';
import { Naming } from '../lib/resources';
import { environmentOf, logicalIdOf, PREFIX, resourcesOf, SELF_SIGN_UP, synth } from './synth';

test('sellers sign in with their e-mail address as the sign-in name, verified by a code', () => {
  synth().data.hasResourceProperties('AWS::Cognito::UserPool', {
    UserPoolName: `${PREFIX}catalog-sellers`,
    UsernameAttributes: ['email'],
    AutoVerifiedAttributes: ['email'],
    UsernameConfiguration: { CaseSensitive: false },
  });
});

test('by default no one signs up: only an operator creates sellers (AdminCreateUser), and Cognito mails', () => {
  const { data } = synth();
  data.hasResourceProperties('AWS::Cognito::UserPool', { AdminCreateUserConfig: { AllowAdminCreateUserOnly: true } });
  const pool = resourcesOf(data)[logicalIdOf(data, 'AWS::Cognito::UserPool')]!.Properties!;
  assert.equal(pool['EmailConfiguration'], undefined, "Cognito's own sender");
  data.hasOutput('HostedUiUrl', { Description: Match.stringLikeRegexp('an operator invites them') });
});

test('selfSignUp=true lets sellers sign up themselves, and the pool mails through the SES identity of sesFromEmail', () => {
  const { data } = synth(SELF_SIGN_UP);
  data.hasResourceProperties('AWS::Cognito::UserPool', {
    AdminCreateUserConfig: { AllowAdminCreateUserOnly: false },
    EmailConfiguration: {
      EmailSendingAccount: 'DEVELOPER',
      From: 'sellers@example.com',
      // The identity in the stacks' region (they fix none at synth time).
      SourceArn: { 'Fn::Join': ['', [
        'arn:', { Ref: 'AWS::Partition' }, ':ses:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':identity/sellers@example.com',
      ]] },
    },
  });
});

test('sesRegion names the region of the SES identity', () => {
  synth({ ...SELF_SIGN_UP, sesRegion: 'eu-west-1' }).data.hasResourceProperties('AWS::Cognito::UserPool', {
    EmailConfiguration: Match.objectLike({ SourceArn: { 'Fn::Join': ['', Match.arrayWith([':ses:eu-west-1:']) ] } }),
  });
});

test('synthesis with self sign-up but no SES sender fails, naming sesFromEmail', () => {
  assert.throws(() => synth({ selfSignUp: 'true' }), /selfSignUp=true requires sesFromEmail/);
  const stack = new Stack(new App(), 'Auth');
  assert.throws(() => new SellerAuth(stack, 'Auth', { naming: new Naming('unit-'), selfSignUp: true }), /SES sender/);
});

test('passwords are at least 12 characters with every character class', () => {
  synth().data.hasResourceProperties('AWS::Cognito::UserPool', {
    Policies: { PasswordPolicy: Match.objectLike({
      MinimumLength: 12, RequireLowercase: true, RequireUppercase: true, RequireNumbers: true, RequireSymbols: true,
    }) },
  });
});

test('MFA is optional, by authenticator app (TOTP) only', () => {
  synth().data.hasResourceProperties('AWS::Cognito::UserPool', {
    MfaConfiguration: 'OPTIONAL',
    EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
  });
});

test('an account is recovered by e-mail only', () => {
  synth().data.hasResourceProperties('AWS::Cognito::UserPool', {
    AccountRecoverySetting: { RecoveryMechanisms: [{ Name: 'verified_email', Priority: 1 }] },
  });
});

test('threat protection is enforced (Plus plan)', () => {
  synth().data.hasResourceProperties('AWS::Cognito::UserPool', {
    UserPoolTier: 'PLUS',
    UserPoolAddOns: { AdvancedSecurityMode: 'ENFORCED' },
  });
});

test('the user pool is deletion-protected and retained', () => {
  const { data } = synth();
  data.hasResourceProperties('AWS::Cognito::UserPool', { DeletionProtection: 'ACTIVE' });
  assert.equal(resourcesOf(data)[logicalIdOf(data, 'AWS::Cognito::UserPool')]!.DeletionPolicy, 'Retain');
});

test('the hosted UI has a Cognito domain named from the resource prefix', () => {
  synth().data.hasResourceProperties('AWS::Cognito::UserPoolDomain', { Domain: `${PREFIX}catalog` });
});

test('the domain prefix is cleaned to what Cognito accepts', () => {
  assert.equal(cognitoDomainPrefix('acme-prod-'), 'acme-prod-catalog');
  assert.equal(cognitoDomainPrefix('aws-shop-'), 'shop-catalog');
  assert.equal(cognitoDomainPrefix('awamazonsx-'), 'x-catalog');
  assert.equal(cognitoDomainPrefix('my--cognito-'), 'my-catalog');
  assert.equal(cognitoDomainPrefix('a'.repeat(30)), `${'a'.repeat(30)}catalog`);
  assert.match(cognitoDomainPrefix('Z_9.'), /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/);
});

test("the page's app client is public and uses only the authorization code grant", () => {
  synth().services.hasResourceProperties('AWS::Cognito::UserPoolClient', {
    GenerateSecret: false,
    AllowedOAuthFlowsUserPoolClient: true,
    AllowedOAuthFlows: ['code'],
    AllowedOAuthScopes: ['openid', 'email', 'profile'],
    SupportedIdentityProviders: ['COGNITO'],
  });
});

test("the app client's tokens last an hour, refresh tokens 30 days, and unknown users are not revealed", () => {
  synth().services.hasResourceProperties('AWS::Cognito::UserPoolClient', {
    AccessTokenValidity: 60,
    IdTokenValidity: 60,
    RefreshTokenValidity: 30 * 24 * 60,
    TokenValidityUnits: { AccessToken: 'minutes', IdToken: 'minutes', RefreshToken: 'minutes' },
    PreventUserExistenceErrors: 'ENABLED',
    EnableTokenRevocation: true,
  });
});

test('the callback and sign-out URL is the seller page', () => {
  const { services } = synth();
  const page = logicalIdOf(services, 'AWS::CloudFront::Distribution', /Seller page/);
  const pageUrl = { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [page, 'DomainName'] }, '/']] };
  services.hasResourceProperties('AWS::Cognito::UserPoolClient', { CallbackURLs: [pageUrl], LogoutURLs: [pageUrl] });
});

test('pageCallbackUrls adds callback and sign-out URLs', () => {
  const extra = ['http://localhost:5173/', 'https://sellers.example.com/'];
  const callbacks = new Capture();
  const { services } = synth({ pageCallbackUrls: extra.join(', ') });
  services.hasResourceProperties('AWS::Cognito::UserPoolClient', { CallbackURLs: callbacks, LogoutURLs: Match.arrayWith(extra) });
  assert.deepEqual(callbacks.asArray().slice(1), extra);
});

test('both APIs verify Cognito tokens: the JWKS URL, issuer and audience of the pool and app client', () => {
  const { services } = synth();
  const client = logicalIdOf(services, 'AWS::Cognito::UserPoolClient');
  const issuer = /^\{"Fn::Join":\["",\["https:\/\/cognito-idp\.",\{"Ref":"AWS::Region"\},"\.amazonaws\.com\/",\{"Fn::ImportValue":"CatalogData:ExportsOutputRefAuthUserPool[^"]+"\}/;
  for (const command of ['write-api', 'read-api']) {
    const environment = environmentOf(services, command);
    assert.match(environment['CATALOG_JWT_ISSUER'] ?? '', new RegExp(`${issuer.source}\\]\\]\\}$`), command);
    assert.match(environment['CATALOG_JWKS_URL'] ?? '', new RegExp(`${issuer.source},"/\\.well-known/jwks\\.json"\\]\\]\\}$`), command);
    assert.equal(environment['CATALOG_JWT_AUDIENCE'], JSON.stringify({ Ref: client }), command);
  }
});

test("both APIs answer CORS for the seller page's origin", () => {
  const { services } = synth();
  const page = logicalIdOf(services, 'AWS::CloudFront::Distribution', /Seller page/);
  for (const command of ['write-api', 'read-api']) {
    assert.equal(environmentOf(services, command)['CATALOG_CORS_ORIGINS'],
      JSON.stringify({ 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [page, 'DomainName'] }]] }), command);
  }
});

test('corsOrigins adds origins to both APIs', () => {
  const { services } = synth({ corsOrigins: 'https://shop.example.com,http://localhost:5173' });
  for (const command of ['write-api', 'read-api']) {
    assert.match(environmentOf(services, command)['CATALOG_CORS_ORIGINS'] ?? '',
      /"DomainName"\]\},",https:\/\/shop\.example\.com,http:\/\/localhost:5173"\]\]\}$/, command);
  }
});

test('both APIs name the API distribution as their server, and no other process does', () => {
  const { services } = synth();
  for (const command of ['write-api', 'read-api']) {
    assert.match(environmentOf(services, command)['CATALOG_PUBLIC_URL'] ?? '', /^\{"Fn::Join":\["",\["https:\/\/",\{"Fn::GetAtt":\["Api/, command);
  }
  for (const command of ['relay', 'project', 'process-images', 'notify', 'resync']) {
    assert.equal(environmentOf(services, command)['CATALOG_PUBLIC_URL'], undefined, command);
  }
});

test('no other process is given token or CORS settings', () => {
  const { services } = synth();
  for (const command of ['relay', 'project', 'process-images', 'notify', 'resync']) {
    const names = Object.keys(environmentOf(services, command));
    assert.ok(!names.some((name) => /JWT|JWKS|CORS/.test(name)), `${command}: ${names}`);
  }
});
