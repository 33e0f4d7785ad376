/**
 * Surviving an Availability Zone: a NAT gateway per AZ, Aurora's reader in the other AZ, every
 * service over both AZs and serving through its deployments.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { resourcesOf, synth, taskOf } from './synth';

/** `{"Fn::Select": [index, {"Fn::GetAZs": ""}]}`: the stack's AZ of that index. */
function az(index: number): unknown {
  return { 'Fn::Select': [index, { 'Fn::GetAZs': '' }] };
}

/** The logical ids of CatalogData's subnets of one tier (`public`, `app`, `data`), in AZ order. */
function subnets(tier: string): string[] {
  return Object.entries(resourcesOf(synth().data, 'AWS::EC2::Subnet'))
    .filter(([, subnet]) => JSON.stringify(subnet.Properties!.Tags).includes(`{"Key":"aws-cdk:subnet-name","Value":"${tier}"}`))
    .map(([id]) => id)
    .sort();
}

test('every tier of the VPC has a subnet in each of two AZs', () => {
  const all = resourcesOf(synth().data, 'AWS::EC2::Subnet');
  for (const tier of ['public', 'app', 'data']) {
    const ids = subnets(tier);
    assert.deepEqual(ids.map((id) => all[id]!.Properties!.AvailabilityZone), [az(0), az(1)], tier);
  }
});

test('each AZ has its own NAT gateway, and its app subnet goes out through it: no NAT is shared', () => {
  const { data } = synth();
  const nats = resourcesOf(data, 'AWS::EC2::NatGateway');
  const [public1, public2] = subnets('public');
  // One NAT in each AZ's public subnet.
  const natOf = (subnet: string): string => {
    const found = Object.entries(nats).filter(([, nat]) => nat.Properties!.SubnetId.Ref === subnet);
    assert.equal(found.length, 1, subnet);
    return found[0]![0];
  };
  assert.equal(Object.keys(nats).length, 2);
  const natByAz = [natOf(public1!), natOf(public2!)];
  // The default route of each app subnet's route table names the NAT of the same AZ.
  const tables = resourcesOf(data, 'AWS::EC2::SubnetRouteTableAssociation');
  const routes = Object.values(resourcesOf(data, 'AWS::EC2::Route'));
  subnets('app').forEach((subnet, index) => {
    const association = Object.values(tables).find((candidate) => candidate.Properties!.SubnetId.Ref === subnet)!;
    const table = association.Properties!.RouteTableId.Ref as string;
    const defaults = routes.filter((route) => route.Properties!.RouteTableId.Ref === table
      && route.Properties!.DestinationCidrBlock === '0.0.0.0/0');
    assert.deepEqual(defaults.map((route) => route.Properties!.NatGatewayId), [{ Ref: natByAz[index] }], subnet);
  });
});

test('the AWS APIs are reached through the NATs, not interface endpoints (the cost choice of README.md)', () => {
  const endpoints = Object.values(resourcesOf(synth().data, 'AWS::EC2::VPCEndpoint'));
  assert.deepEqual(endpoints.map((endpoint) => endpoint.Properties!.VpcEndpointType ?? 'Gateway'), ['Gateway', 'Gateway']);
});

test('Aurora has a reader in the other AZ, in promotion tier 1, at the writer\'s capacity', () => {
  const { data } = synth();
  const instances = Object.values(resourcesOf(data, 'AWS::RDS::DBInstance')).map((instance) => instance.Properties!);
  assert.equal(instances.length, 2);
  const cluster = Object.keys(resourcesOf(data, 'AWS::RDS::DBCluster'));
  assert.equal(cluster.length, 1);
  for (const instance of instances) {
    assert.deepEqual(instance['DBClusterIdentifier'], { Ref: cluster[0] });
    assert.equal(instance['DBInstanceClass'], 'db.serverless');
    assert.equal(instance['PubliclyAccessible'], false);
  }
  const [writer, reader] = [...instances].sort((a, b) => a['PromotionTier'] - b['PromotionTier']);
  // Tier 0 is the writer CDK creates first; tier 1 is the failover target that scales with it
  // (a Serverless v2 reader in tier 0 or 1 follows the writer's capacity).
  assert.deepEqual([writer!['PromotionTier'], reader!['PromotionTier']], [0, 1]);
  assert.deepEqual(writer!['AvailabilityZone'], az(0));
  assert.deepEqual(reader!['AvailabilityZone'], az(1));
});

test('the writer deployed before the reader (no AZ of its own) is replaced, not moved: RDS refuses an AZ change in place', () => {
  const ids = Object.keys(resourcesOf(synth().data, 'AWS::RDS::DBInstance')).sort();
  assert.ok(!ids.includes('DatabaseClusterWriterD43085C6'), 'the old writer\'s logical id is gone');
  assert.deepEqual(ids.map((id) => id.replace(/[0-9A-F]{8}$/, '')), ['DatabaseClusterInstanceAz1', 'DatabaseClusterInstanceAz2']);
});

/** Every long-running service of CatalogServices, by the command its task runs. */
function services(): Map<string, Record<string, any>> {
  const { services: template } = synth();
  const byCommand = new Map<string, Record<string, any>>();
  for (const command of ['write-api', 'read-api', 'relay', 'project', 'process-images', 'notify']) {
    const task = taskOf(template, command).logicalId;
    const found = Object.values(resourcesOf(template, 'AWS::ECS::Service'))
      .filter((service) => service.Properties!.TaskDefinition.Ref === task);
    assert.equal(found.length, 1, command);
    byCommand.set(command, found[0]!.Properties!);
  }
  assert.equal(Object.keys(resourcesOf(template, 'AWS::ECS::Service')).length, byCommand.size, 'no other service');
  return byCommand;
}

test('every service runs in the app subnets of both AZs, and is rebalanced over them', () => {
  const appSubnets = subnets('app');
  for (const [command, service] of services()) {
    const configuration = service['NetworkConfiguration'].AwsvpcConfiguration;
    const named = (configuration.Subnets as { 'Fn::ImportValue': string }[]).map((subnet) => subnet['Fn::ImportValue']);
    assert.equal(named.length, 2, command);
    appSubnets.forEach((subnet, index) => assert.match(named[index]!, new RegExp(`Ref${subnet}`), command));
    assert.equal(configuration.AssignPublicIp, 'DISABLED', command);
    assert.equal(service['AvailabilityZoneRebalancing'], 'ENABLED', command);
  }
});

test('every service keeps all its tasks serving through a deployment, and rolls back one that fails', () => {
  for (const [command, service] of services()) {
    assert.deepEqual(service['DeploymentConfiguration'], {
      MinimumHealthyPercent: 100,
      MaximumPercent: 200,
      DeploymentCircuitBreaker: { Enable: true, Rollback: true },
    }, command);
  }
});

test('both APIs run two tasks at least, one in each AZ, however they scale', () => {
  const { services: template } = synth();
  const all = services();
  const targets = Object.values(resourcesOf(template, 'AWS::ApplicationAutoScaling::ScalableTarget'));
  for (const command of ['write-api', 'read-api']) {
    assert.equal(all.get(command)!['DesiredCount'], 2, command);
    const serviceId = Object.entries(resourcesOf(template, 'AWS::ECS::Service'))
      .find(([, service]) => service.Properties === all.get(command))![0];
    const target = targets.filter((candidate) => JSON.stringify(candidate.Properties!.ResourceId).includes(serviceId));
    assert.equal(target.length, 1, command);
    assert.equal(target[0]!.Properties!.MinCapacity, 2, command);
  }
});

test('the load balancer is in the public subnets of both AZs', () => {
  const { services: template } = synth();
  const [balancer] = Object.values(resourcesOf(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer'));
  const named = (balancer!.Properties!.Subnets as { 'Fn::ImportValue': string }[]).map((subnet) => subnet['Fn::ImportValue']);
  subnets('public').forEach((subnet, index) => assert.match(named[index]!, new RegExp(`Ref${subnet}`)));
  assert.equal(named.length, 2);
});
