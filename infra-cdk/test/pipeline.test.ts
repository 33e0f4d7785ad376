/**
 * The deploy pipeline (.github/workflows/deploy.yml) and the image it builds (Dockerfile), held
 * to what this app deploys: the context it passes, the outputs it reads, the image's entry point
 * and platform. actionlint checks the workflow's syntax and expressions (./check); these check
 * its shape and its agreement with the stacks.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { parse } from 'yaml';
import { configFromContext } from '../lib/config';
import { COMMANDS, synth, taskOf } from './synth';

const INFRA = path.join(__dirname, '..', '..');
const ROOT = path.join(INFRA, '..');

type Step = { uses?: string; run?: string; with?: Record<string, unknown>; id?: string; name?: string };
type Job = {
  needs?: string | string[];
  environment?: { name: string } | string;
  permissions?: Record<string, string>;
  container?: { image: string };
  env?: Record<string, string>;
  steps: Step[];
};
type Workflow = { on: Record<string, any>; env: Record<string, string>; jobs: Record<string, Job>; concurrency: Record<string, unknown> };

const workflow = parse(fs.readFileSync(path.join(ROOT, '.github', 'workflows', 'deploy.yml'), 'utf8')) as Workflow;
const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');

function job(name: string): Job {
  const found = workflow.jobs[name];
  assert.ok(found !== undefined, `job ${name}`);
  return found;
}

/** Every `run:` of a job, joined. */
function scripts(name: string): string {
  return job(name).steps.map((step) => step.run ?? '').join('\n');
}

function uses(name: string, action: string): Step {
  const found = job(name).steps.filter((step) => step.uses?.startsWith(`${action}@`));
  assert.equal(found.length, 1, `${name} uses ${action}`);
  return found[0]!;
}

test('the pipeline runs on every push to main, one deployment at a time', () => {
  assert.deepEqual(workflow.on['push'], { branches: ['main'] });
  assert.equal(workflow.concurrency['cancel-in-progress'], false);
});

test('its jobs run in order: test, image, diff, deploy (approved), smoke', () => {
  assert.deepEqual(Object.keys(workflow.jobs), ['test', 'image', 'diff', 'deploy', 'smoke']);
  assert.equal(job('test').needs, undefined);
  assert.equal(job('image').needs, 'test');
  assert.equal(job('diff').needs, 'image');
  assert.equal(job('deploy').needs, 'diff');
  assert.equal(job('smoke').needs, 'deploy');
  assert.match(scripts('test'), /^\.\/dev test$/m);
});

test('every action is pinned to a major version', () => {
  for (const [name, spec] of Object.entries(workflow.jobs)) {
    for (const step of spec.steps.filter((candidate) => candidate.uses !== undefined)) {
      assert.match(step.uses!, /^[\w-]+\/[\w-]+@v\d+$/, `${name}: ${step.uses}`);
    }
  }
});

test('AWS is reached with OIDC alone: no stored keys, id-token only where AWS is called', () => {
  const text = JSON.stringify(workflow);
  assert.doesNotMatch(text, /AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|aws-access-key-id|secrets\./);
  for (const [name, spec] of Object.entries(workflow.jobs)) {
    const callsAws = spec.steps.some((step) => step.uses?.startsWith('aws-actions/configure-aws-credentials@'));
    assert.equal(spec.permissions?.['id-token'] === 'write', callsAws, name);
    if (callsAws) {
      const credentials = uses(name, 'aws-actions/configure-aws-credentials');
      assert.equal(credentials.with?.['role-to-assume'], '${{ vars.AWS_DEPLOY_ROLE_ARN }}', name);
    }
  }
});

test('the image is built for the platform the task definitions run on, with its layers cached, and pushed to ECR under the commit', () => {
  const build = uses('image', 'docker/build-push-action');
  const options = build.with!;
  const { services } = synth();
  for (const command of COMMANDS) {
    assert.equal(taskOf(services, command).properties.RuntimePlatform.CpuArchitecture, 'X86_64', command);
  }
  assert.equal(options['platforms'], 'linux/amd64');
  assert.equal(options['push'], true);
  assert.equal(options['tags'], '${{ steps.ecr.outputs.registry }}/${{ env.ECR_REPOSITORY }}:${{ env.IMAGE_TAG }}');
  assert.match(String(options['cache-from']), /^type=gha\b/);
  // mode=max keeps the intermediate stages' layers too: the cooked dependencies.
  assert.match(String(options['cache-to']), /^type=gha\b.*\bmode=max\b/);
  uses('image', 'aws-actions/amazon-ecr-login');
  assert.equal(workflow.env['IMAGE_TAG'], '${{ github.sha }}');
  // The repository the stacks pull from when none is named (config.ts) is the one pushed to.
  const app = new App({ context: { imageTag: 'x', resourcePrefix: 'x-', development: 'true' } });
  assert.equal(workflow.env['ECR_REPOSITORY'], `\${{ vars.ECR_REPOSITORY || '${configFromContext(app.node).ecrRepository}' }}`);
});

test('the diff and the deploy name the same build and context; the deploy needs an approval and asks nothing else', () => {
  for (const name of ['diff', 'deploy']) {
    assert.match(scripts(name), /"\$\(\.\/deploy-context\)"/, name);
    assert.match(scripts(name), /-c imageTag=\$\{\{ github\.sha \}\}/, name);
    assert.deepEqual(job(name).env, job('diff').env, name);
  }
  assert.match(scripts('diff'), /npx cdk diff --all /);
  assert.match(scripts('deploy'), /npx cdk deploy --all --require-approval never /);
  // The manual approval: the production environment's required reviewers.
  assert.deepEqual(job('deploy').environment, { name: 'production', url: '${{ steps.outputs.outputs.api-url }}' });
  assert.equal(job('diff').environment, undefined);
});

test('deploy-context turns the repository variables into the context the app reads', () => {
  const variables = {
    RESOURCE_PREFIX: 'acme-prod-',
    ECR_REPOSITORY: 'catalog-images',
    CERTIFICATE_ARN: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc',
    API_ORIGIN_DOMAIN: 'api-origin.acme.example',
    ALARM_EMAIL: 'ops@acme.example',
    SELF_SIGN_UP: 'true',
    SES_FROM_EMAIL: 'sellers@acme.example',
    SES_REGION: 'eu-central-1',
    UPLOAD_ORIGINS: 'https://shop.acme.example',
    CORS_ORIGINS: 'https://admin.acme.example,https://shop.acme.example',
    PAGE_CALLBACK_URLS: 'http://localhost:5173/',
    WAF_RATE_LIMIT: '500',
  };
  // Every variable the script reads is passed to both jobs (the repository to every job: the image job pushes to it).
  for (const name of Object.keys(variables)) {
    const passed = name === 'ECR_REPOSITORY' ? workflow.env[name] : job('deploy').env?.[name];
    assert.ok(passed?.startsWith(`\${{ vars.${name} `), `${name}: ${passed}`);
  }
  const lines = execFileSync(path.join(INFRA, 'deploy-context'), { env: { PATH: process.env['PATH'], ...variables }, encoding: 'utf8' })
    .trimEnd().split('\n');
  const context: Record<string, string> = { imageTag: 'abc123' };
  for (let index = 0; index < lines.length; index += 2) {
    assert.equal(lines[index], '-c');
    const [key, ...value] = lines[index + 1]!.split('=');
    context[key!] = value.join('=');
  }
  const config = configFromContext(new App({ context }).node);
  assert.deepEqual(config, {
    imageTag: 'abc123',
    ecrRepository: 'catalog-images',
    resourcePrefix: 'acme-prod-',
    development: false,
    certificateArn: variables.CERTIFICATE_ARN,
    apiOriginDomain: variables.API_ORIGIN_DOMAIN,
    uploadOrigins: ['https://shop.acme.example'],
    alarmEmail: 'ops@acme.example',
    pageCallbackUrls: ['http://localhost:5173/'],
    corsOrigins: ['https://admin.acme.example', 'https://shop.acme.example'],
    wafRateLimit: 500,
    selfSignUp: true,
    sesEmail: { fromEmail: 'sellers@acme.example', region: 'eu-central-1' },
  });
  // Left out, a variable leaves the app's default; without the prefix the script refuses.
  assert.equal(execFileSync(path.join(INFRA, 'deploy-context'), { env: { PATH: process.env['PATH'], RESOURCE_PREFIX: 'a-' }, encoding: 'utf8' }),
    '-c\nresourcePrefix=a-\n');
  assert.throws(() => execFileSync(path.join(INFRA, 'deploy-context'), { env: { PATH: process.env['PATH'] }, stdio: 'pipe' }));
});

test('the smoke test reads outputs the services stack has, and asks both APIs and a public read through the API URL', () => {
  const smoke = scripts('smoke');
  const outputs = Object.keys(synth().services.toJSON().Outputs as Record<string, unknown>);
  const read = [...smoke.matchAll(/\$\(output ([A-Za-z]+)\)/g)].map((match) => match[1]!);
  const named = [...smoke.matchAll(/\b(WriteApiTargetGroupArn|ReadApiTargetGroupArn)\b/g)].map((match) => match[1]!);
  assert.deepEqual([...new Set(named)].sort(), ['ReadApiTargetGroupArn', 'WriteApiTargetGroupArn']);
  for (const key of [...read, ...named]) {
    assert.ok(outputs.includes(key), `CatalogServices has the output ${key}`);
  }
  assert.ok(read.includes('ApiUrl'));
  assert.match(smoke, /aws elbv2 wait target-in-service/);
  assert.match(smoke, /"\$api\/readyz"/);
  assert.match(smoke, /\/history"/);
  assert.match(smoke, /"\$api\/v1\/products\/[^"]+\/photos[^"]*"/);
  // The stack those outputs are read from is the one this app names.
  assert.equal(synth().stacks.services.stackName, 'CatalogServices');
  assert.match(smoke, /--stack-name CatalogServices /);
});

test('the Dockerfile cooks the dependencies in a layer of their own (cargo-chef) before it copies the sources', () => {
  const stages = dockerfile.split(/^FROM /m).slice(1);
  assert.match(stages[0]!, /^lukemathwalker\/cargo-chef:\S+-bookworm AS chef\n/);
  assert.match(stages[1]!, /^chef AS planner\n[\s\S]*RUN cargo chef prepare --recipe-path recipe\.json --bin catalog\n/);
  const build = stages[2]!;
  assert.match(build, /^chef AS build\n/);
  const cook = build.indexOf('RUN cargo chef cook --profile container --locked --bin catalog --recipe-path recipe.json');
  const copy = build.indexOf('COPY . .');
  const compile = build.indexOf('RUN cargo build --profile container --locked --bin catalog');
  assert.ok(build.indexOf('COPY --from=planner /src/recipe.json recipe.json') < cook, 'only the recipe before the cook');
  assert.ok(cook > 0 && cook < copy && copy < compile, 'cook, then the sources, then the build');
});

test('the image runs the catalog binary as its entry point, as every task definition expects', () => {
  const cargo = fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8');
  assert.match(cargo, /\[\[bin\]\]\nname = "catalog"\n/);
  assert.match(cargo, /\[profile\.container\]/);
  const runtime = dockerfile.split(/^FROM /m).at(-1)!;
  assert.match(runtime, /^debian:bookworm-slim\n/);
  assert.match(runtime, /COPY --from=build \/src\/target\/container\/catalog \/usr\/local\/bin\/catalog\n/);
  assert.match(runtime, /\nUSER catalog\n/);
  assert.match(runtime, /\nENTRYPOINT \["catalog"\]\n$/);
  const { services, data } = synth();
  for (const command of COMMANDS) {
    assert.deepEqual(taskOf(services, command).container.EntryPoint, ['catalog'], command);
  }
  assert.deepEqual(taskOf(data, 'rebuild').container.EntryPoint, ['catalog']);
});
