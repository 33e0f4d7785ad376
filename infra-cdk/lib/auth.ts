/**
 * Seller sign-in: a Cognito user pool whose tokens the APIs accept, and its hosted UI.
 *
 * Sellers sign themselves up with their e-mail address (verified by a code), under a strong
 * password policy, with optional TOTP MFA and recovery by e-mail only. The pool is on the Plus
 * plan with threat protection enforced: sign-ins with leaked credentials are blocked and risky
 * ones challenged. It holds the sellers' accounts, so it lives in the data stack, retained and
 * deletion-protected.
 *
 * The web page's app client is made by `addPageClient` in the stack of the page, because its
 * callback URLs name the page's CloudFront domain.
 */
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { Naming } from './resources';

/** The OAuth scopes of the seller page. */
export const PAGE_SCOPES = ['openid', 'email', 'profile'] as const;

/** Words Cognito refuses in a domain prefix. */
const RESERVED_IN_DOMAIN = /aws|amazon|cognito/;

/**
 * The hosted UI's domain prefix for a resource prefix: `${prefix}catalog` in what Cognito
 * accepts (lower-case letters, digits and inner hyphens, at most 63, none of its reserved words).
 */
export function cognitoDomainPrefix(resourcePrefix: string): string {
  let cleaned = `${resourcePrefix}catalog`.toLowerCase();
  // Again until none is left: removing one can join the letters of another.
  while (RESERVED_IN_DOMAIN.test(cleaned)) {
    cleaned = cleaned.replace(new RegExp(RESERVED_IN_DOMAIN, 'g'), '');
  }
  cleaned = cleaned
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .slice(0, 63)
    .replace(/^-+|-+$/g, '');
  return cleaned.length > 0 ? cleaned : 'catalog';
}

export interface SellerAuthProps {
  readonly naming: Naming;
}

export class SellerAuth extends Construct {
  readonly userPool: cognito.UserPool;
  readonly domain: cognito.UserPoolDomain;

  constructor(scope: Construct, id: string, props: SellerAuthProps) {
    super(scope, id);

    this.userPool = new cognito.UserPool(this, 'UserPool', {
      userPoolName: props.naming.name('catalog-sellers'),
      selfSignUpEnabled: true,
      signInAliases: { email: true },
      signInCaseSensitive: false,
      autoVerify: { email: true },
      // A changed address takes effect only once its code is confirmed.
      keepOriginal: { email: true },
      standardAttributes: { email: { required: true, mutable: true } },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: cognito.Mfa.OPTIONAL,
      mfaSecondFactor: { sms: false, otp: true },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      featurePlan: cognito.FeaturePlan.PLUS,
      standardThreatProtectionMode: cognito.StandardThreatProtectionMode.FULL_FUNCTION,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(this.userPool, [{
      id: 'AwsSolutions-COG2',
      reason: 'Sellers sign themselves up with an e-mail address: TOTP MFA is offered and optional so that signing up '
        + 'needs no authenticator app, and threat protection (Plus plan, enforced) blocks sign-ins with leaked '
        + 'credentials and challenges risky ones.',
    }]);

    this.domain = this.userPool.addDomain('HostedUi', {
      cognitoDomain: { domainPrefix: cognitoDomainPrefix(props.naming.prefix) },
    });
  }

  /** The token issuer (`iss`): `https://cognito-idp.<region>.amazonaws.com/<pool id>`. */
  get issuer(): string {
    return `https://cognito-idp.${Aws.REGION}.amazonaws.com/${this.userPool.userPoolId}`;
  }

  /** Where the pool publishes its signing keys. */
  get jwksUrl(): string {
    return `${this.issuer}/.well-known/jwks.json`;
  }

  /** The hosted UI: `https://<prefix>.auth.<region>.amazoncognito.com`. */
  get hostedUiUrl(): string {
    return this.domain.baseUrl();
  }

  /**
   * The app client of a browser page: public (no secret), authorization code grant only (the
   * page uses PKCE), tokens valid an hour and refreshable for 30 days, and no answer that tells
   * whether an address has an account. `urls` are its callback and sign-out URLs.
   */
  addPageClient(scope: Construct, id: string, urls: readonly string[]): cognito.UserPoolClient {
    return new cognito.UserPoolClient(scope, id, {
      userPool: this.userPool,
      generateSecret: false,
      // SRP keeps the password off the wire; the refresh-token flow comes with it.
      authFlows: { userSrp: true },
      oAuth: {
        flows: { authorizationCodeGrant: true, implicitCodeGrant: false, clientCredentials: false },
        scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
        callbackUrls: [...urls],
        logoutUrls: [...urls],
      },
      supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
      enableTokenRevocation: true,
      preventUserExistenceErrors: true,
    });
  }
}
