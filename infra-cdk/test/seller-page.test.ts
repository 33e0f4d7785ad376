/** The seller page: its bucket, distribution, security headers, files and config.json, and its uploads' CORS. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { App, Stack } from 'aws-cdk-lib';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import { SellerAuth } from '../lib/auth';
import { Naming } from '../lib/resources';
import { SellerPage } from '../lib/seller-page';
import { Context, logicalIdOf, PREFIX, resources, resourcesOf, synth } from './synth';

const BUCKET = PREFIX + resources.buckets.sellerPage;

function page(template: Template = synth().services): Record<string, any> {
  return resourcesOf(template)[logicalIdOf(template, 'AWS::CloudFront::Distribution', /Seller page/)]!.Properties!['DistributionConfig'];
}

test('the page bucket has the protections of the variants bucket', () => {
  const { services } = synth();
  services.hasResourceProperties('AWS::S3::Bucket', {
    BucketName: BUCKET,
    PublicAccessBlockConfiguration: {
      BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true,
    },
    BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    LoggingConfiguration: { DestinationBucketName: { 'Fn::ImportValue': Match.stringLikeRegexp('StorageLogs') }, LogFilePrefix: 's3/seller-page/' },
  });
  const bucket = logicalIdOf(services, 'AWS::S3::Bucket', new RegExp(BUCKET));
  assert.equal(resourcesOf(services)[bucket]!.DeletionPolicy, 'Retain');
  services.hasResourceProperties('AWS::S3::BucketPolicy', {
    Bucket: { Ref: bucket },
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({
      Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    })]) },
  });
});

test('only the page distribution may read the bucket (origin access control)', () => {
  const { services } = synth();
  const bucket = logicalIdOf(services, 'AWS::S3::Bucket', new RegExp(BUCKET));
  const distribution = logicalIdOf(services, 'AWS::CloudFront::Distribution', /Seller page/);
  services.hasResourceProperties('AWS::S3::BucketPolicy', {
    Bucket: { Ref: bucket },
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({
      Effect: 'Allow', Action: Match.arrayWith(['s3:GetObject']), Principal: { Service: 'cloudfront.amazonaws.com' },
      Condition: { StringEquals: { 'AWS:SourceArn': Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([{ Ref: distribution }])] }) } },
    })]) },
  });
  const [origin] = page(services).Origins;
  assert.deepEqual(origin.DomainName, { 'Fn::GetAtt': [bucket, 'RegionalDomainName'] });
  assert.ok(origin.OriginAccessControlId);
});

test('the page distribution may also list the bucket, so a missing file answers 404 (never a listing: the root is index.html)', () => {
  const { services } = synth();
  const bucket = logicalIdOf(services, 'AWS::S3::Bucket', new RegExp(BUCKET));
  const distribution = logicalIdOf(services, 'AWS::CloudFront::Distribution', /Seller page/);
  services.hasResourceProperties('AWS::S3::BucketPolicy', {
    Bucket: { Ref: bucket },
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({
      Effect: 'Allow', Action: Match.arrayWith(['s3:ListBucket']), Principal: { Service: 'cloudfront.amazonaws.com' },
      Resource: Match.arrayWith([{ 'Fn::GetAtt': [bucket, 'Arn'] }]),
      Condition: { StringEquals: { 'AWS:SourceArn': Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([{ Ref: distribution }])] }) } },
    })]) },
  });
  assert.equal(page(services).DefaultRootObject, 'index.html');
});

test('the page is served at its root over HTTPS (HTTP redirects), GET and HEAD only, with logs', () => {
  const config = page();
  assert.equal(config.DefaultRootObject, 'index.html');
  assert.equal(config.DefaultCacheBehavior.ViewerProtocolPolicy, 'redirect-to-https');
  assert.deepEqual(config.DefaultCacheBehavior.AllowedMethods, ['GET', 'HEAD']);
  assert.equal(config.Logging.Prefix, 'cloudfront-seller-page/');
});

/** The response headers policy of the page, and its CSP rendered with `<token>` for every reference. */
function headers(): { policy: Record<string, any>; csp: string } {
  const { services } = synth();
  const id = logicalIdOf(services, 'AWS::CloudFront::ResponseHeadersPolicy');
  assert.deepEqual(page(services).DefaultCacheBehavior.ResponseHeadersPolicyId, { Ref: id });
  const policy = resourcesOf(services)[id]!.Properties!['ResponseHeadersPolicyConfig'];
  const parts = policy.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy['Fn::Join'][1] as unknown[];
  const csp = parts.map((part) => (typeof part === 'string' ? part : `<${JSON.stringify(part)}>`)).join('');
  return { policy, csp };
}

function directive(csp: string, name: string): string {
  const found = csp.split('; ').find((entry) => entry.startsWith(`${name} `) || entry === name);
  assert.ok(found, `${name} in ${csp}`);
  return found;
}

test('the CSP allows only the page itself by default, and forbids framing, plugins and base changes', () => {
  const { csp } = headers();
  for (const expected of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
    "object-src 'none'", "base-uri 'none'", "form-action 'self'"]) {
    assert.equal(directive(csp, expected.split(' ')[0]!), expected);
  }
});

test('the CSP lets the page connect to itself, the API and the Cognito domain (and presigned uploads)', () => {
  const { services } = synth();
  const api = logicalIdOf(services, 'AWS::CloudFront::Distribution', /"Catalog API"/);
  const connect = directive(headers().csp, 'connect-src');
  assert.ok(connect.startsWith("connect-src 'self' "), connect);
  assert.ok(connect.includes(`https://<{"Fn::GetAtt":["${api}","DomainName"]}>`), connect);
  assert.match(connect, /https:\/\/<\{"Fn::ImportValue":"CatalogData:ExportsOutputRefAuthUserPoolHostedUi[^}]*\}>\.auth\.<\{"Ref":"AWS::Region"\}>\.amazoncognito\.com/);
  assert.match(connect, /https:\/\/<\{"Fn::ImportValue":"CatalogData:[^"]*StorageOriginals[^"]*RegionalDomainName[^}]*\}>/);
  assert.equal(connect.split(' ').length, 5, connect);
});

test('the CSP lets the page show images from itself and the variants CDN', () => {
  assert.match(directive(headers().csp, 'img-src'), /^img-src 'self' data: blob: https:\/\/<\{"Fn::ImportValue":"CatalogData:[^"]*VariantsCdn[^"]*DomainName[^}]*\}>$/);
});

test('the page is sent with HSTS, nosniff, no framing and no referrer', () => {
  const security = headers().policy.SecurityHeadersConfig;
  assert.deepEqual(security.StrictTransportSecurity, { AccessControlMaxAgeSec: 31536000, IncludeSubdomains: true, Override: true });
  assert.deepEqual(security.ContentTypeOptions, { Override: true });
  assert.deepEqual(security.FrameOptions, { FrameOption: 'DENY', Override: true });
  assert.deepEqual(security.ReferrerPolicy, { ReferrerPolicy: 'no-referrer', Override: true });
  assert.equal(security.ContentSecurityPolicy.Override, true);
});

test('the files are deployed into the page bucket, and each deploy invalidates the distribution', () => {
  const { services } = synth();
  services.hasResourceProperties('Custom::CDKBucketDeployment', {
    DestinationBucketName: { Ref: logicalIdOf(services, 'AWS::S3::Bucket', new RegExp(BUCKET)) },
    DistributionId: { Ref: logicalIdOf(services, 'AWS::CloudFront::Distribution', /Seller page/) },
    DistributionPaths: ['/*'],
    Prune: true,
    // Browsers revalidate every load; the edge keeps a day (and is invalidated by every deploy).
    SystemMetadata: { 'cache-control': 'public, max-age=0, s-maxage=86400' },
  });
});

test("config.json names the API, the hosted UI, the page's client, its URL and scopes", () => {
  const { stacks, services } = synth();
  const { sellerPage } = stacks.services;
  const api = logicalIdOf(services, 'AWS::CloudFront::Distribution', /"Catalog API"/);
  const pageId = logicalIdOf(services, 'AWS::CloudFront::Distribution', /Seller page/);
  const apiUrl = { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [api, 'DomainName'] }]] };
  const config = stacks.services.resolve(sellerPage.config) as Record<string, any>;
  assert.deepEqual(config['write_api'], apiUrl);
  assert.deepEqual(config['read_api'], apiUrl);
  assert.equal(config['auth'].kind, 'cognito');
  assert.match(JSON.stringify(config['auth'].domain), /^\{"Fn::Join":\["",\["https:\/\/",\{"Fn::ImportValue":"CatalogData:ExportsOutputRefAuthUserPoolHostedUi[^"]*"\},"\.auth\.",\{"Ref":"AWS::Region"\},"\.amazoncognito\.com"\]\]\}$/);
  assert.deepEqual(config['auth'].client_id, { Ref: logicalIdOf(services, 'AWS::Cognito::UserPoolClient') });
  assert.deepEqual(config['auth'].redirect_uri, { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [pageId, 'DomainName'] }, '/']] });
  assert.deepEqual(config['auth'].scopes, ['openid', 'email', 'profile']);
  // What the deployment writes: config.json's references, filled in at deploy time.
  const markers = new Capture();
  services.hasResourceProperties('Custom::CDKBucketDeployment', { SourceMarkers: markers, SourceMarkersConfig: Match.arrayWith([{ jsonEscape: true }]) });
  const filled = JSON.stringify(markers.asArray());
  assert.ok(filled.includes(JSON.stringify({ Ref: logicalIdOf(services, 'AWS::Cognito::UserPoolClient') })), filled);
  assert.ok(filled.includes(JSON.stringify({ 'Fn::GetAtt': [api, 'DomainName'] })), filled);
});

test('the deployment carries the seller-page folder only when it has files', () => {
  const { stacks, services } = synth();
  const keys = new Capture();
  services.hasResourceProperties('Custom::CDKBucketDeployment', { SourceObjectKeys: keys });
  assert.equal(keys.asArray().length, stacks.services.sellerPage.deploysFiles ? 2 : 1);
});

/** A SellerPage alone in a stack, from `folder`. */
function standalone(folder: string): { app: App; page: SellerPage; template: Template } {
  const app = new App();
  const stack = new Stack(app, 'Page');
  const page = new SellerPage(stack, 'SellerPage', {
    bucketName: 'unit-page',
    logs: new s3.Bucket(stack, 'Logs'),
    auth: new SellerAuth(stack, 'Auth', { naming: new Naming('unit-') }),
    apiUrl: 'https://api.example.com',
    variantsUrl: 'https://images.example.com',
    uploadUrl: 'https://uploads.example.com',
    namePrefix: 'unit-',
    folder,
  });
  return { app, page, template: Template.fromStack(stack) };
}

function sourceKeys(template: Template): unknown[] {
  const keys = new Capture();
  template.hasResourceProperties('Custom::CDKBucketDeployment', { SourceObjectKeys: keys });
  return keys.asArray();
}

test('without the folder, or with hidden files only, only config.json is deployed', () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'seller-page-'));
  fs.writeFileSync(path.join(empty, '.gitkeep'), '');
  for (const folder of [path.join(empty, 'missing'), empty]) {
    const { page, template } = standalone(folder);
    assert.equal(page.deploysFiles, false, folder);
    assert.equal(sourceKeys(template).length, 1, folder);
  }
});

test("with files, the folder is deployed beside config.json, without a config.json of its own", () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'seller-page-'));
  fs.writeFileSync(path.join(folder, 'index.html'), '<!doctype html><title>Sellers</title>');
  fs.writeFileSync(path.join(folder, 'config.json'), '{"write_api": "http://127.0.0.1:8080"}');
  const { app, page, template } = standalone(folder);
  assert.equal(page.deploysFiles, true);
  assert.equal(sourceKeys(template).length, 2);
  const assembly = app.synth().directory;
  const staged = fs.readdirSync(assembly).filter((entry) => entry.startsWith('asset.'))
    .map((entry) => path.join(assembly, entry))
    .filter((entry) => fs.statSync(entry).isDirectory() && fs.existsSync(path.join(entry, 'index.html')));
  assert.equal(staged.length, 1);
  assert.ok(!fs.existsSync(path.join(staged[0]!, 'config.json')), 'the generated config.json is the only one');
});

test('SellerPageUrl is the page distribution', () => {
  const { services } = synth();
  services.hasOutput('SellerPageUrl', {
    Value: { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [logicalIdOf(services, 'AWS::CloudFront::Distribution', /Seller page/), 'DomainName'] }, '/']] },
  });
});

test("cfn-lint's one warning on the library's Lambdas (the role named twice) is acknowledged there alone", () => {
  const { services } = synth();
  const ignored = Object.entries(resourcesOf(services)).filter(([, resource]) => resource.Metadata?.['cfn-lint'] !== undefined);
  assert.deepEqual(ignored.map(([, resource]) => [resource.Type, resource.Metadata!['cfn-lint']]),
    [['AWS::Lambda::Function', { config: { ignore_checks: ['W3005'] } }],
      ['AWS::Lambda::Function', { config: { ignore_checks: ['W3005'] } }]]);
  // BucketDeployment's, and AwsCustomResource's (the originals bucket's CORS).
  assert.match(ignored[0]![0], /^CustomCDKBucketDeployment/);
  assert.match(ignored[1]![0], /^AWS679f53fac002430cb0da5b7982bd2287/);
});

/**
 * The CORS rules the custom resource writes to the originals bucket on `event` (Create or
 * Update), with every reference as `<n>`, and the references.
 */
function uploadCors(extra: Context = {}, event: 'Create' | 'Update' = 'Create'): { rules: Record<string, any>[]; refs: unknown[]; call: Record<string, any> } {
  const { services } = synth(extra);
  const [resource] = Object.values(resourcesOf(services, 'Custom::AWS'));
  assert.ok(resource, 'the custom resource that writes the CORS');
  const refs: unknown[] = [];
  const parts = resource.Properties![event]['Fn::Join'][1] as unknown[];
  const call = JSON.parse(parts.map((part) => (typeof part === 'string' ? part : `<${refs.push(part) - 1}>`)).join('')) as Record<string, any>;
  return { rules: call['parameters'].CORSConfiguration.CORSRules, refs, call };
}

test("the originals bucket's CORS lets the seller page's origin PUT, and names no * origin", () => {
  const { services } = synth();
  const { rules, refs, call } = uploadCors();
  assert.equal(call['service'], 'S3');
  assert.equal(call['action'], 'putBucketCors');
  assert.match(JSON.stringify(refs[Number(/^<(\d+)>$/.exec(call['parameters'].Bucket)![1])]), /StorageOriginals/);
  assert.deepEqual(rules, [{
    AllowedMethods: ['PUT'],
    AllowedOrigins: [rules[0]!.AllowedOrigins[0]],
    AllowedHeaders: ['*'],
    ExposeHeaders: ['ETag'],
    MaxAgeSeconds: 3600,
  }]);
  const [origin] = rules[0]!.AllowedOrigins as string[];
  assert.match(origin!, /^https:\/\/<\d+>$/);
  assert.deepEqual(refs[Number(/<(\d+)>/.exec(origin!)![1])],
    { 'Fn::GetAtt': [logicalIdOf(services, 'AWS::CloudFront::Distribution', /Seller page/), 'DomainName'] });
  for (const rule of rules) {
    assert.ok((rule.AllowedOrigins as string[]).every((allowed) => !allowed.includes('*')), JSON.stringify(rule.AllowedOrigins));
  }
  assert.deepEqual(uploadCors({}, 'Update').rules, rules, 'a change of the origins writes the same rule');
});

test("uploadOrigins add origins to the originals bucket's CORS, after the page's", () => {
  const { rules } = uploadCors({ uploadOrigins: 'https://shop.example.com,http://localhost:5173' });
  assert.deepEqual((rules[0]!.AllowedOrigins as string[]).slice(1), ['https://shop.example.com', 'http://localhost:5173']);
  assert.ok((rules[0]!.AllowedOrigins as string[]).every((allowed) => !allowed.includes('*')));
});

test('the CORS writer may only PutBucketCORS on the originals bucket', () => {
  const { services } = synth();
  const policies = Object.entries(resourcesOf(services, 'AWS::IAM::Policy')).filter(([id]) => id.startsWith('UploadCors'));
  assert.equal(policies.length, 1);
  const statements = policies[0]![1].Properties!['PolicyDocument'].Statement as Record<string, any>[];
  assert.equal(statements.length, 1);
  assert.equal(statements[0]!['Action'], 's3:PutBucketCORS');
  assert.match(JSON.stringify(statements[0]!['Resource']), /^\{"Fn::ImportValue":"[^"]*StorageOriginals[^"]*Arn[^"]*"\}$/);
});
