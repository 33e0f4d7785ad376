/** cdk-nag's AwsSolutions pack: nothing unsuppressed, and every suppression says why. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { Context, DEVELOPMENT, resourcesOf, SELF_SIGN_UP, synth } from './synth';

const VARIANTS: [string, Context][] = [
  ['production', {}],
  ['development, HTTP only', DEVELOPMENT],
  ['self sign-up', SELF_SIGN_UP],
];

for (const [label, extra] of VARIANTS) {

  test(`AwsSolutions reports no unsuppressed error or warning (${label})`, () => {
    const { stacks } = synth(extra);
    for (const stack of [stacks.data, stacks.services]) {
      const annotations = Annotations.fromStack(stack);
      const findings = [
        ...annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
        ...annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
      ].map((finding) => `${finding.id}: ${String(finding.entry.data)}`);
      assert.deepEqual(findings, [], stack.stackName);
    }
  });
}

test('every nag suppression gives a reason', () => {
  const { data, services } = synth();
  let count = 0;
  for (const template of [data, services]) {
    for (const resource of Object.values(resourcesOf(template))) {
      for (const rule of (resource.Metadata?.['cdk_nag']?.rules_to_suppress ?? []) as { id: string; reason: string }[]) {
        assert.ok(rule.reason.length >= 40, `${rule.id}: "${rule.reason}"`);
        count += 1;
      }
    }
  }
  assert.ok(count > 0);
});
