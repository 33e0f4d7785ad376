/**
 * The services' own keys, generated into Secrets Manager at the first deploy.
 *
 * The photos' data-key key (`CATALOG_DATA_KEY_SECRET`) seals each photo's own data key, under
 * which the photo's personal fields are stored in the event store; deleting a photo's data key
 * forgets them (crypto-shredding, docs/DESIGN.md). The secret is encrypted under a KMS key of
 * its own, which only the processes of the event store may use to decrypt, and which rotates
 * yearly.
 *
 * The webhook key encrypts every seller's webhook signing secret (`CATALOG_WEBHOOK_KEY_SECRET`). The write API
 * creates each seller's secret (`POST /v1/webhook-secret`) and stores it encrypted under a data
 * key; the notifier decrypts it to sign. The processes read this secret themselves, by ARN.
 *
 * The value is 64 letters and digits. It does not rotate automatically: every stored seller
 * secret is encrypted under it, so changing it needs those re-encrypted first.
 *
 * Bearer tokens need no key here: in AWS the APIs accept only Cognito's tokens, verified with
 * the user pool's published keys (auth.ts); the HS256 secret is for local use.
 */
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { RemovalPolicy } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { Naming } from './resources';

export class ServiceSecrets extends Construct {
  /** The key-encryption key of the sellers' webhook signing secrets. */
  readonly webhookKeys: secretsmanager.Secret;
  /** The key-encryption key of the photos' data keys, and the KMS key it is encrypted under. */
  readonly dataKeys: secretsmanager.Secret;
  readonly dataKeysKey: kms.Key;

  constructor(scope: Construct, id: string, props: { readonly naming: Naming }) {
    super(scope, id);

    this.dataKeysKey = new kms.Key(this, 'DataKeysKmsKey', {
      description: "Encrypts the secret that seals every photo's data key",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.dataKeys = new secretsmanager.Secret(this, 'PhotoDataKeysKey', {
      secretName: props.naming.name('catalog/photo-data-keys-key'),
      description: "Seals every photo's data key (CATALOG_DATA_KEY_SECRET of every process of the event store)",
      encryptionKey: this.dataKeysKey,
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(this.dataKeys, [{
      id: 'AwsSolutions-SMG4',
      reason: "Every photo's stored data key is sealed under this key: a scheduled rotation would leave them "
        + 'unreadable, so it is changed by hand, together with re-sealing them. Its KMS key rotates yearly.',
    }]);

    this.webhookKeys = new secretsmanager.Secret(this, 'WebhookSecretsKey', {
      secretName: props.naming.name('catalog/webhook-secrets-key'),
      description: "Encrypts every seller's webhook signing secret (CATALOG_WEBHOOK_KEY_SECRET of write-api and notify)",
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(this.webhookKeys, [{
      id: 'AwsSolutions-SMG4',
      reason: "Every seller's stored webhook secret is encrypted under this key: a scheduled rotation would leave "
        + 'them unreadable, so it is changed by hand, together with re-encrypting them.',
    }]);
  }
}
