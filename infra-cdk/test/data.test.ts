/** Network, event store, buckets, CDN, read model and bus: the stateful stack. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import {
  environmentOf, IMAGE_TAG, logicalIdOf, POSTGRES_COMMANDS, PREFIX, resources, resourcesOf, synth, taskOf,
} from './synth';

test('the VPC spans two AZs with S3 and DynamoDB gateway endpoints and flow logs (its NATs: resilience.test.ts)', () => {
  const { data } = synth();
  assert.equal(Object.values(resourcesOf(data, 'AWS::EC2::Subnet')).filter((subnet) =>
    JSON.stringify(subnet.Properties!.Tags).includes('"Public"')).length, 2);
  const endpoints = Object.values(resourcesOf(data, 'AWS::EC2::VPCEndpoint'));
  assert.deepEqual(endpoints.map((endpoint) => endpoint.Properties!.VpcEndpointType ?? 'Gateway'), ['Gateway', 'Gateway']);
  assert.match(JSON.stringify(endpoints), /\.s3"/);
  assert.match(JSON.stringify(endpoints), /\.dynamodb"/);
  data.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'ALL' });
});

test('Postgres is Aurora Serverless v2 in isolated subnets, encrypted, deletion-protected and backed up', () => {
  const { data } = synth();
  data.hasResourceProperties('AWS::RDS::DBCluster', {
    Engine: 'aurora-postgresql',
    StorageEncrypted: true,
    DeletionProtection: true,
    BackupRetentionPeriod: 14,
    ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 4 },
  });
  data.hasResourceProperties('AWS::RDS::DBInstance', { DBInstanceClass: 'db.serverless', PubliclyAccessible: false });
  const subnetGroup = Object.values(resourcesOf(data, 'AWS::RDS::DBSubnetGroup'))[0]!;
  assert.match(JSON.stringify(subnetGroup.Properties!.SubnetIds), /dataSubnet/);
});

test('the database credentials are generated into Secrets Manager and rotated', () => {
  const { data } = synth();
  data.hasResourceProperties('AWS::SecretsManager::Secret', {
    GenerateSecretString: Match.objectLike({ SecretStringTemplate: '{"username":"catalog"}' }),
  });
  data.hasResourceProperties('AWS::SecretsManager::SecretTargetAttachment', { TargetType: 'AWS::RDS::DBCluster' });
  data.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
    RotationRules: { ScheduleExpression: 'rate(30 days)' },
  });
});

test('Postgres accepts connections only from the processes that use it', () => {
  const { data, services } = synth();
  const databaseGroup = Object.entries(resourcesOf(data, 'AWS::EC2::SecurityGroup'))
    .find(([id]) => id.startsWith('DatabaseClusterSecurityGroup'))![0];
  const inline = resourcesOf(data, 'AWS::EC2::SecurityGroup')[databaseGroup]!.Properties!.SecurityGroupIngress;
  assert.equal(inline, undefined, 'no open inline ingress on the database group');
  const ingress = [data, services].flatMap((template) => Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress')))
    .filter((rule) => JSON.stringify(rule.Properties!.GroupId).includes(databaseGroup));
  const sources = ingress.map((rule) => rule.Properties!.SourceSecurityGroupId['Fn::GetAtt']?.[0] as string);
  // The one-off rebuild (CatalogData, while there is a previous table) too.
  const expected = [...POSTGRES_COMMANDS, 'rebuild'].map((command) => command.replace('-', ''));
  for (const command of expected) {
    assert.ok(sources.some((source) => source.toLowerCase().includes(`${command}securitygroup`)), `${command} may connect`);
  }
  // The rest: the rotation Lambda, nothing else.
  assert.equal(ingress.length, expected.length + 1);
  for (const command of ['read-api', 'project']) {
    const secrets = (taskOf(services, command).container.Secrets ?? []) as { Name: string }[];
    assert.ok(!secrets.some((secret) => secret.Name.startsWith('PG')), `${command} gets no database credentials`);
  }
});

test('the originals bucket blocks public access, is encrypted and enforces TLS', () => {
  const { data } = synth();
  const name = `test-${resources.buckets.originals}`;
  data.hasResourceProperties('AWS::S3::Bucket', {
    BucketName: name,
    PublicAccessBlockConfiguration: {
      BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true,
    },
    BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
  });
  const [bucketId] = Object.entries(resourcesOf(data, 'AWS::S3::Bucket')).find(([, bucket]) => bucket.Properties!.BucketName === name)!;
  data.hasResourceProperties('AWS::S3::BucketPolicy', {
    Bucket: { Ref: bucketId },
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({
      Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    })]) },
  });
});

test('the originals bucket is versioned and expires what never completed or was replaced', () => {
  const tag = resources.buckets.unconfirmedUploadTag;
  synth().data.hasResourceProperties('AWS::S3::Bucket', {
    BucketName: `test-${resources.buckets.originals}`,
    VersioningConfiguration: { Status: 'Enabled' },
    LifecycleConfiguration: { Rules: Match.arrayWith([
      Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }),
      // Uploads no one confirmed: the tag of resources.json, which upload-complete removes.
      Match.objectLike({
        TagFilters: [{ Key: tag.key, Value: tag.value }],
        ExpirationInDays: tag.expireAfterDays,
        Status: 'Enabled',
      }),
      Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 30 }, Status: 'Enabled' }),
    ]) },
  });
});

test('the originals bucket notifies EventBridge, and declares no CORS of its own (CatalogServices writes it)', () => {
  const { data } = synth();
  data.hasResourceProperties('AWS::S3::Bucket', {
    BucketName: `test-${resources.buckets.originals}`,
    NotificationConfiguration: { EventBridgeConfiguration: { EventBridgeEnabled: true } },
  });
  for (const bucket of Object.values(resourcesOf(data, 'AWS::S3::Bucket'))) {
    assert.equal(bucket.Properties!['CorsConfiguration'], undefined, bucket.Properties!['BucketName']);
  }
});

test('variants are private and served only through CloudFront with origin access control', () => {
  const { data } = synth();
  const name = `test-${resources.buckets.variants}`;
  const [bucketId] = Object.entries(resourcesOf(data, 'AWS::S3::Bucket')).find(([, bucket]) => bucket.Properties!.BucketName === name)!;
  data.hasResourceProperties('AWS::S3::Bucket', {
    BucketName: name,
    PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicPolicy: true, RestrictPublicBuckets: true }),
  });
  data.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
    OriginAccessControlConfig: Match.objectLike({ OriginAccessControlOriginType: 's3', SigningBehavior: 'always' }),
  });
  data.hasResourceProperties('AWS::CloudFront::Distribution', {
    DistributionConfig: Match.objectLike({
      Origins: [Match.objectLike({ OriginAccessControlId: Match.anyValue(), DomainName: { 'Fn::GetAtt': [bucketId, 'RegionalDomainName'] } })],
      DefaultCacheBehavior: Match.objectLike({ ViewerProtocolPolicy: 'redirect-to-https' }),
    }),
  });
  data.hasResourceProperties('AWS::S3::BucketPolicy', {
    Bucket: { Ref: bucketId },
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({
      Effect: 'Allow', Action: Match.arrayWith(['s3:GetObject']), Principal: { Service: 'cloudfront.amazonaws.com' },
    })]) },
  });
});

test('CloudFront may list the variants bucket (a deleted variant is 404, not 403), its distribution alone', () => {
  const { data } = synth();
  const name = `test-${resources.buckets.variants}`;
  const [bucketId] = Object.entries(resourcesOf(data, 'AWS::S3::Bucket')).find(([, bucket]) => bucket.Properties!.BucketName === name)!;
  const [distributionId] = Object.entries(resourcesOf(data, 'AWS::CloudFront::Distribution'))
    .find(([, distribution]) => JSON.stringify(distribution.Properties).includes(bucketId))!;
  const policy = Object.values(resourcesOf(data, 'AWS::S3::BucketPolicy')).find((candidate) => candidate.Properties!.Bucket.Ref === bucketId)!;
  const listing = (policy.Properties!.PolicyDocument.Statement as Record<string, any>[])
    .filter((statement) => ([] as string[]).concat(statement['Action']).includes('s3:ListBucket'));
  assert.equal(listing.length, 1);
  const [statement] = listing;
  assert.equal(statement!['Effect'], 'Allow');
  assert.deepEqual(statement!['Principal'], { Service: 'cloudfront.amazonaws.com' });
  assert.ok(JSON.stringify(statement!['Resource']).includes(JSON.stringify({ 'Fn::GetAtt': [bucketId, 'Arn'] })), 'on the bucket');
  const sourceArn = JSON.stringify(statement!['Condition']['StringEquals']['AWS:SourceArn']);
  assert.ok(sourceArn.includes(':distribution/') && sourceArn.includes(JSON.stringify({ Ref: distributionId })), sourceArn);
});

test("the variants distribution's root is an object that never exists: `/` is a 404, never a listing", () => {
  const { data, stacks } = synth();
  data.hasResourceProperties('AWS::CloudFront::Distribution', {
    DistributionConfig: Match.objectLike({ Comment: Match.stringLikeRegexp('^Variants of'), DefaultRootObject: 'index.html' }),
  });
  // The image processor writes only under variants/, never that key.
  const warnings = Annotations.fromStack(stacks.data).findWarning('*', Match.stringLikeRegexp('listBucketSecurityRisk'));
  assert.deepEqual(warnings, []);
});

test('both read-model tables are on demand, retained, with point-in-time recovery and deletion protection', () => {
  const { data } = synth();
  for (const table of [resources.table, resources.previousTable!]) {
    data.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        TableName: `test-${table.name}`,
        BillingMode: 'PAY_PER_REQUEST',
        Replicas: [Match.objectLike({
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: true,
        })],
      }),
    });
  }
});

/** The logical id of the table named `name` (unprefixed) in CatalogData. */
function tableId(name: string): string {
  return logicalIdOf(synth().data, 'AWS::DynamoDB::GlobalTable', new RegExp(`"TableName":"test-${name}"`));
}

test('the previous table keeps the logical id it was deployed with, so CloudFormation leaves it in place', () => {
  // The id 'Table' of ReadModel had before the rebuild: another would replace the table.
  assert.equal(tableId(resources.previousTable!.name), 'ReadModelTable152641BF');
  assert.notEqual(tableId(resources.table.name), 'ReadModelTable152641BF');
});

test("CatalogData keeps exporting the previous table's ARN under the name the deployed services import", () => {
  const outputs = synth().data.toJSON().Outputs as Record<string, { Value: unknown; Export?: { Name: string } }>;
  const previous = tableId(resources.previousTable!.name);
  const exported = Object.values(outputs).filter((output) => JSON.stringify(output.Value) === JSON.stringify({ 'Fn::GetAtt': [previous, 'Arn'] }));
  // The name CDK gave the automatic export when CatalogServices referenced this table.
  assert.deepEqual(exported.map((output) => output.Export?.Name), ['CatalogData:ExportsOutputFnGetAttReadModelTable152641BFArn9BBBC704']);
});

test('once previous_table is dropped, the new table keeps its logical id and the rebuild task and its export go', () => {
  const { previousTable: _, ...withoutPrevious } = resources;
  const later = synth({}, { name: 'without previous_table', resources: withoutPrevious });
  const tables = resourcesOf(later.data, 'AWS::DynamoDB::GlobalTable');
  assert.deepEqual(Object.keys(tables), [tableId(resources.table.name)]);
  assert.deepEqual(tables[tableId(resources.table.name)], resourcesOf(synth().data, 'AWS::DynamoDB::GlobalTable')[tableId(resources.table.name)]);
  assert.equal(Object.keys(resourcesOf(later.data, 'AWS::ECS::TaskDefinition')).length, 0);
  assert.doesNotMatch(JSON.stringify(later.data.toJSON().Outputs), /ReadModelTable152641BF|Rebuild/);
  // Nothing of the services stack refers to the previous table any more, so the export can go.
  assert.doesNotMatch(JSON.stringify(later.services.toJSON()), new RegExp(`ReadModelTable152641BF|table/${PREFIX}${resources.previousTable!.name}"`));
});

test('the one-off rebuild runs `catalog rebuild` from the image of the release, as the resync does', () => {
  const { data, services } = synth();
  const rebuild = taskOf(data, 'rebuild');
  const resync = taskOf(services, 'resync');
  assert.deepEqual(rebuild.container.EntryPoint, resync.container.EntryPoint);
  assert.match(JSON.stringify(rebuild.container.Image), new RegExp(`:${IMAGE_TAG}"`));
  assert.deepEqual([rebuild.properties.Cpu, rebuild.properties.Memory], [resync.properties.Cpu, resync.properties.Memory]);
  const environment = environmentOf(data, 'rebuild');
  assert.equal(environment['CATALOG_RESOURCE_PREFIX'], JSON.stringify(PREFIX));
  assert.equal(environment['PGSSLMODE'], '"require"');
  const outputs = data.toJSON().Outputs as Record<string, { Value: unknown }>;
  assert.deepEqual(outputs['RebuildTaskDefinition']!.Value, rebuild.properties.Family);
  assert.deepEqual(outputs['RebuildSecurityGroup']!.Value,
    { 'Fn::GetAtt': [logicalIdOf(data, 'AWS::EC2::SecurityGroup', /"catalog rebuild"/), 'GroupId'] });
});

test('the bus archives every event of the source for replay, for as long as an erasure may take', () => {
  synth().data.hasResourceProperties('AWS::Events::Archive', {
    EventPattern: { source: [resources.eventSource] },
    RetentionDays: 30,
  });
});
