/**
 * The services' own keys, generated into Secrets Manager at the first deploy: the HS256 key of
 * bearer tokens (`CATALOG_JWT_SECRET`) and the HMAC key of webhook signatures
 * (`CATALOG_WEBHOOK_SECRET`). Neither rotates automatically: rotating the JWT key logs every
 * seller out, and the webhook key is shared with every seller's server, so both change only in
 * a coordinated step.
 *
 * A generated value is 64 letters and digits: valid base64 of 48 bytes, which is the form the
 * notifier and the Standard Webhooks libraries take as a key (sellers prefix it with `whsec_`).
 */
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { RemovalPolicy } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { Naming } from './resources';

export class ServiceSecrets extends Construct {
  readonly jwt: secretsmanager.Secret;
  readonly webhook: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: { readonly naming: Naming }) {
    super(scope, id);

    const generated = (secretId: string, name: string, description: string): secretsmanager.Secret => {
      const secret = new secretsmanager.Secret(this, secretId, {
        secretName: props.naming.name(name),
        description,
        generateSecretString: { passwordLength: 64, excludePunctuation: true },
        removalPolicy: RemovalPolicy.RETAIN,
      });
      NagSuppressions.addResourceSuppressions(secret, [{
        id: 'AwsSolutions-SMG4',
        reason: 'Changing this key breaks its other holders (issued bearer tokens; sellers verifying webhook '
          + 'signatures), so it is rotated by hand in a coordinated change, not on a schedule.',
      }]);
      return secret;
    };
    this.jwt = generated('JwtSecret', 'catalog/jwt-secret', 'HS256 key of the catalog bearer tokens');
    this.webhook = generated('WebhookSecret', 'catalog/webhook-secret', 'HMAC key of the catalog webhook signatures');
  }
}
