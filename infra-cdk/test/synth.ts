/**
 * Synthesizes the app the way `cdk synth` does (cdk.json's feature flags, fixed test context,
 * cdk-nag's AwsSolutions pack) once per context, and helps tests read the result.
 *
 * The fixed context is a production deployment's (a certificate and the name it covers);
 * `DEVELOPMENT` takes them away, as a development deployment may.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Aspects } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildCatalog, CatalogStacks } from '../lib/catalog-app';
import { CatalogResources, loadResources } from '../lib/resources';

export const PREFIX = 'test-';
export const IMAGE_TAG = '0123abc';
export const resources = loadResources();
/** The context of a deployment with HTTPS to the origin: a certificate and the name it covers (in every synth unless taken away). */
export const WITH_CERTIFICATE: Readonly<Record<string, string>> = {
  certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/test',
  apiOriginDomain: 'api-origin.example.com',
};
/** A development deployment: no certificate, CloudFront reaches the load balancer over HTTP. */
export const DEVELOPMENT: Readonly<Context> = { development: 'true', certificateArn: undefined, apiOriginDomain: undefined };
/** Self sign-up, with the SES sender it requires. */
export const SELF_SIGN_UP: Readonly<Context> = { selfSignUp: 'true', sesFromEmail: 'sellers@example.com' };

/** Context values; `undefined` removes a value of the fixed context. */
export type Context = Record<string, string | undefined>;

export interface Synthesized {
  readonly stacks: CatalogStacks;
  readonly data: Template;
  readonly services: Template;
}

const cdkJson = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};
const cache = new Map<string, Synthesized>();

/** The test context with `extra` over it, without the values `extra` sets to `undefined`. */
export function testContext(extra: Context = {}): Record<string, string> {
  const merged: Context = { imageTag: IMAGE_TAG, resourcePrefix: PREFIX, ...WITH_CERTIFICATE, ...extra };
  return Object.fromEntries(Object.entries(merged).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/**
 * The app synthesized with the test context plus `extra`, from resources.json or, when a test
 * gives it, another version of it (`variant` names that version in the cache).
 */
export function synth(extra: Context = {}, variant?: { name: string; resources: CatalogResources }): Synthesized {
  const context = testContext(extra);
  const key = JSON.stringify([Object.entries(context).sort(), variant?.name]);
  const cached = cache.get(key);
  if (cached !== undefined) {
    return cached;
  }
  const app = new App({
    context: { ...cdkJson.context, ...context },
  });
  const stacks = buildCatalog(app, variant?.resources);
  Aspects.of(app).add(new AwsSolutionsChecks({ reports: false }));
  const result = {
    stacks,
    data: Template.fromStack(stacks.data),
    services: Template.fromStack(stacks.services),
  };
  cache.set(key, result);
  return result;
}

type Resources = Record<string, { Type: string; Properties?: Record<string, any>; Metadata?: Record<string, any>; DeletionPolicy?: string }>;

export function resourcesOf(template: Template, type?: string): Resources {
  const all = template.toJSON().Resources as Resources;
  return Object.fromEntries(Object.entries(all).filter(([, resource]) => type === undefined || resource.Type === type));
}

/** The container definition of the task whose command is `catalog <command>`. */
export function taskOf(template: Template, command: string): { logicalId: string; properties: Record<string, any>; container: Record<string, any> } {
  for (const [logicalId, resource] of Object.entries(resourcesOf(template, 'AWS::ECS::TaskDefinition'))) {
    const container = resource.Properties!.ContainerDefinitions[0];
    if (JSON.stringify(container.Command) === JSON.stringify([command])) {
      return { logicalId, properties: resource.Properties!, container };
    }
  }
  throw new Error(`no task definition runs ${command}`);
}

/** A statement of an IAM policy, with its actions always a list and its resources and conditions as JSON text. */
export interface Grant {
  readonly actions: string[];
  readonly resources: string;
  /** `null` when the statement has no condition. */
  readonly conditions: string;
}

/** Every statement of every policy attached to the task role of `catalog <command>`. */
export function taskRoleGrants(template: Template, command: string): Grant[] {
  const role = taskOf(template, command).properties.TaskRoleArn['Fn::GetAtt'][0] as string;
  const grants: Grant[] = [];
  for (const policy of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
    const roles = (policy.Properties!.Roles as { Ref: string }[]).map((ref) => ref.Ref);
    if (!roles.includes(role)) {
      continue;
    }
    for (const statement of policy.Properties!.PolicyDocument.Statement) {
      grants.push({
        actions: ([] as string[]).concat(statement.Action),
        resources: JSON.stringify(statement.Resource),
        conditions: JSON.stringify(statement.Condition ?? null),
      });
    }
  }
  const managed = resourcesOf(template, 'AWS::IAM::Role')[role]!.Properties!;
  if (managed.ManagedPolicyArns !== undefined || managed.Policies !== undefined) {
    throw new Error(`the task role of ${command} has managed or inline policies the tests do not read`);
  }
  return grants;
}

/** The environment of `catalog <command>`, each value as JSON text. */
export function environmentOf(template: Template, command: string): Record<string, string> {
  return Object.fromEntries((taskOf(template, command).container.Environment as { Name: string; Value: unknown }[])
    .map((variable) => [variable.Name, JSON.stringify(variable.Value)]));
}

/** The logical id of the only resource of `type` whose properties' JSON matches `pattern`. */
export function logicalIdOf(template: Template, type: string, pattern: RegExp = /./): string {
  const found = Object.entries(resourcesOf(template, type)).filter(([, resource]) => pattern.test(JSON.stringify(resource.Properties)));
  if (found.length !== 1) {
    throw new Error(`${found.length} resources of ${type} match ${pattern}`);
  }
  return found[0]![0];
}

/** The actions granted to `catalog <command>`, on any resource. */
export function actionsOf(template: Template, command: string): string[] {
  return taskRoleGrants(template, command).flatMap((grant) => grant.actions).sort();
}

/** The resources (as JSON text) on which `action` is granted to `catalog <command>`. */
export function resourcesFor(template: Template, command: string, action: string): string[] {
  return taskRoleGrants(template, command).filter((grant) => grant.actions.includes(action)).map((grant) => grant.resources);
}

/** The commands of every `catalog` process. */
export const COMMANDS = ['write-api', 'read-api', 'relay', 'project', 'process-images', 'notify', 'resync'] as const;
/** Those that use the event store. */
export const POSTGRES_COMMANDS = ['write-api', 'relay', 'process-images', 'notify', 'resync'] as const;
