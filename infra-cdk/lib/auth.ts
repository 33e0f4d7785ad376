/**
 * Seller sign-in: a Cognito user pool whose tokens the APIs accept, and its hosted UI.
 *
 * Sellers sign in with their e-mail address, under a strong password policy, with optional TOTP
 * MFA and recovery by e-mail only. The pool is on the Plus plan with threat protection enforced:
 * sign-ins with leaked credentials are blocked and risky ones challenged. It holds the sellers'
 * accounts, so it lives in the data stack, retained and deletion-protected.
 *
 * By default no one signs up: an operator invites each seller (AdminCreateUser mails a temporary
 * password, changed at the first sign-in), or sellers come through a federated identity
 * provider. Self sign-up (`selfSignUp`) opens the pool to anyone who knows the page's public
 * client id, so it comes with two guards: the pool mails through SES (sign-ups send verification
 * codes, and Cognito's own sender stops at its daily cap), and a web ACL on the pool
 * (`SignUpFirewall`, firewall.ts) rate-limits sign-ups, keeps them to the hosted UI and puts a
 * CAPTCHA in front of its sign-up page.
 *
 * The web page's app client is made by `addPageClient` in the stack of the page, because its
 * callback URLs name the page's CloudFront domain.
 */
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { SesSender } from './config';
import { SignUpFirewall } from './firewall';
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
  /** Whether sellers may sign themselves up (default false: invited or federated); requires `sesEmail`. */
  readonly selfSignUp?: boolean;
  /** The SES identity the pool mails from; default Cognito's own sender (50 mails a day). */
  readonly sesEmail?: SesSender;
}

export class SellerAuth extends Construct {
  readonly userPool: cognito.UserPool;
  readonly domain: cognito.UserPoolDomain;
  /** The user pool's web ACL, while sellers sign themselves up. */
  readonly signUpFirewall?: SignUpFirewall;

  constructor(scope: Construct, id: string, props: SellerAuthProps) {
    super(scope, id);

    const selfSignUp = props.selfSignUp ?? false;
    if (selfSignUp && props.sesEmail === undefined) {
      throw new Error('self sign-up needs an SES sender (sesEmail): Cognito\'s own sender stops at its daily cap');
    }
    this.userPool = new cognito.UserPool(this, 'UserPool', {
      userPoolName: props.naming.name('catalog-sellers'),
      selfSignUpEnabled: selfSignUp,
      // The stacks fix no region: an identity in the pool's region unless sesRegion names another.
      email: props.sesEmail === undefined
        ? undefined
        : cognito.UserPoolEmail.withSES({ fromEmail: props.sesEmail.fromEmail, sesRegion: props.sesEmail.region ?? Aws.REGION }),
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
      reason: 'Sellers sign in with an e-mail address: TOTP MFA is offered and optional so that joining (an invitation, '
        + 'or self sign-up where allowed) needs no authenticator app, and threat protection (Plus plan, enforced) blocks '
        + 'sign-ins with leaked credentials and challenges risky ones.',
    }]);
    if (selfSignUp) {
      this.signUpFirewall = new SignUpFirewall(this, 'SignUpFirewall', {
        userPool: this.userPool,
        namePrefix: props.naming.prefix,
      });
    }

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
