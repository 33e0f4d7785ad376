/**
 * The services' own key, generated into Secrets Manager at the first deploy: the key that
 * encrypts every seller's webhook signing secret (`CATALOG_WEBHOOK_KEY_SECRET`). The write API
 * creates each seller's secret (`POST /v1/webhook-secret`) and stores it encrypted under a data
 * key; the notifier decrypts it to sign. The processes read this secret themselves, by ARN.
 *
 * The value is 64 letters and digits. It does not rotate automatically: every stored seller
 * secret is encrypted under it, so changing it needs those re-encrypted first.
 *
 * Bearer tokens need no key here: in AWS the APIs accept only Cognito's tokens, verified with
 * the user pool's published keys (auth.ts); the HS256 secret is for local use.
 */
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { RemovalPolicy } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { Naming } from './resources';

export class ServiceSecrets extends Construct {
  /** The key-encryption key of the sellers' webhook signing secrets. */
  readonly webhookKeys: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: { readonly naming: Naming }) {
    super(scope, id);

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
