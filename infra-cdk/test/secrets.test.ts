/** The services' own key in Secrets Manager: the key of the sellers' webhook secrets, and no token key. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Match } from 'aws-cdk-lib/assertions';
import { COMMANDS, environmentOf, logicalIdOf, POSTGRES_COMMANDS, PREFIX, resourcesOf, synth } from './synth';

test("the webhook secrets' key is generated: 64 letters and digits, retained", () => {
  const { data } = synth();
  data.hasResourceProperties('AWS::SecretsManager::Secret', {
    Name: `${PREFIX}catalog/webhook-secrets-key`,
    GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true },
  });
  const id = logicalIdOf(data, 'AWS::SecretsManager::Secret', /webhook-secrets-key/);
  assert.equal(resourcesOf(data)[id]!.DeletionPolicy, 'Retain');
});

test("the write API and the notifier get the key's ARN as CATALOG_WEBHOOK_KEY_SECRET", () => {
  const { services } = synth();
  for (const command of ['write-api', 'notify']) {
    assert.match(environmentOf(services, command)['CATALOG_WEBHOOK_KEY_SECRET'] ?? '', /SecretsWebhookSecretsKey/, command);
  }
  for (const command of COMMANDS.filter((command) => !['write-api', 'notify'].includes(command))) {
    assert.equal(environmentOf(services, command)['CATALOG_WEBHOOK_KEY_SECRET'], undefined, command);
  }
});

test('no shared webhook secret and no JWT key are left in either stack', () => {
  const { data, services } = synth();
  for (const template of [data, services]) {
    const text = JSON.stringify(template.toJSON());
    assert.doesNotMatch(text, /CATALOG_WEBHOOK_SECRET"/);
    assert.doesNotMatch(text, /CATALOG_JWT_SECRET/);
    assert.doesNotMatch(text, /catalog\/webhook-secret"/);
    assert.doesNotMatch(text, /catalog\/jwt-secret/);
  }
  // The database's, the webhook secrets' key, the photos' data-key key, and the load balancer's
  // origin header: nothing else.
  assert.equal(Object.keys(resourcesOf(data, 'AWS::SecretsManager::Secret')).length, 3);
  assert.equal(Object.keys(resourcesOf(services, 'AWS::SecretsManager::Secret')).length, 1);
  data.hasResourceProperties('AWS::SecretsManager::Secret', { Name: Match.absent(), GenerateSecretString: Match.objectLike({
    SecretStringTemplate: '{"username":"catalog"}',
  }) });
});

test("the photos' data-key key is encrypted under a rotating KMS key of its own, and every process of the event store reads it", () => {
  const { data, services } = synth();
  data.hasResourceProperties('AWS::SecretsManager::Secret', {
    Name: `${PREFIX}catalog/photo-data-keys-key`,
    GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true },
    KmsKeyId: Match.anyValue(),
  });
  data.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  for (const command of COMMANDS) {
    const secret = environmentOf(services, command)['CATALOG_DATA_KEY_SECRET'];
    if ((POSTGRES_COMMANDS as readonly string[]).includes(command)) {
      assert.match(secret ?? '', /SecretsPhotoDataKeysKey/, command);
    } else {
      assert.equal(secret, undefined, command);
    }
  }
});
