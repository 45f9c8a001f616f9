import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib'
import {
  AccountRecovery,
  FeaturePlan,
  ManagedLoginVersion,
  Mfa,
  OAuthScope,
  UserPool,
  type UserPoolClient,
  UserPoolClientIdentityProvider,
  type UserPoolDomain,
} from 'aws-cdk-lib/aws-cognito'
import { Construct } from 'constructs'
import { cognitoIdentityClaim, type UserPoolConfig } from './config.js'
import { HandlerFunction } from './handler-function.js'

/** The scopes the web chat asks for; its config.json names the same. */
export const signInScopes = 'openid profile email'

/** What the authorizer checks a token against, and the claim that names its user. */
export interface TokenSettings {
  jwksUrl: string
  jwtIssuer: string
  jwtAudience: string
  identityClaim: string
}

/** Where a browser signs in: the issuer (its discovery document), the client and the claim naming users. */
export interface SignInSettings {
  issuer: string
  clientId: string
  scope: string
  identityClaim: string
}

/** The user pool's construct inputs. */
export interface HuddleUserPoolProps {
  stageName: string
  config: UserPoolConfig
  /** The deployed web chat, sent back to after sign-in and sign-out besides the stage's own addresses. */
  webChatUrl?: string
  removalPolicy: RemovalPolicy
}

/**
 * The hosted sign-in domain's prefix when the stage names none: the stage and the account, unique in a region
 * and allowed by Cognito (lowercase, at most 63 characters, an account id being 12 digits).
 */
export function defaultDomainPrefix(stageName: string): string {
  const stage = stageName
    .toLowerCase()
    .slice(0, 63 - 'huddle--'.length - 12)
    .replace(/-+$/, '')
  return `huddle-${stage}-${Aws.ACCOUNT_ID}`
}

/** The origins a browser reaches to sign in with the pool: its issuer's API and its hosted sign-in domain. */
export function userPoolOrigins(scope: Construct, stageName: string, config: UserPoolConfig): string[] {
  const { region, urlSuffix } = Stack.of(scope)
  const prefix = config.domainPrefix ?? defaultDomainPrefix(stageName)
  return [`https://cognito-idp.${region}.${urlSuffix}`, `https://${prefix}.auth.${region}.amazoncognito.com`]
}

/**
 * A Cognito user pool for the stage: self sign-up with a user name (case-insensitive) and a password, hosted
 * sign-in pages, and one public app client (Authorization Code with PKCE for browsers and apps; the admin
 * password flow, which needs the account's IAM credentials, for scripts' test tokens). Its ID tokens are what
 * clients connect with: their `aud` is that client and `cognito:username` names the user.
 */
export class HuddleUserPool extends Construct {
  readonly pool: UserPool
  readonly client: UserPoolClient
  readonly domain: UserPoolDomain
  /** `https://cognito-idp.<region>.amazonaws.com/<poolId>`: the `iss` of the pool's tokens. */
  readonly issuer: string

  constructor(scope: Construct, id: string, props: HuddleUserPoolProps) {
    super(scope, id)
    const { region, urlSuffix } = Stack.of(this)

    const signUp = new HandlerFunction(this, 'SignUpHandler', {
      handler: 'sign-up',
      removalPolicy: props.removalPolicy,
      timeout: Duration.seconds(5),
      environment: {},
    }).function

    this.pool = new UserPool(this, 'Pool', {
      selfSignUpEnabled: true,
      signInAliases: { username: true },
      signInCaseSensitive: false,
      // No e-mail: nothing to verify, no personal data kept, and no sender to set up; the trigger confirms.
      autoVerify: {},
      accountRecovery: AccountRecovery.NONE,
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: Mfa.OPTIONAL,
      mfaSecondFactor: { otp: true, sms: false },
      featurePlan: FeaturePlan.ESSENTIALS,
      lambdaTriggers: { preSignUp: signUp },
      removalPolicy: props.removalPolicy,
      deletionProtection: props.removalPolicy === RemovalPolicy.RETAIN,
    })
    Validations.of(this.pool).acknowledge({
      id: 'AwsSolutions-COG2',
      reason:
        'MFA is offered (TOTP) but not required: the pool is for a team trying the chat, whose users sign up ' +
        'themselves; a pool that guards real accounts should require it.',
    })
    Validations.of(this.pool).acknowledge({
      id: 'AwsSolutions-COG8',
      reason:
        "The Plus plan's threat protection costs per active user; Essentials gives the hosted sign-in, PKCE " +
        'and refresh tokens this pool needs.',
    })

    this.domain = this.pool.addDomain('SignIn', {
      cognitoDomain: { domainPrefix: props.config.domainPrefix ?? defaultDomainPrefix(props.stageName) },
      // The classic pages work without a branding resource.
      managedLoginVersion: ManagedLoginVersion.CLASSIC_HOSTED_UI,
    })

    const callbackUrls = [...(props.webChatUrl ? [props.webChatUrl] : []), ...props.config.callbackUrls]
    this.client = this.pool.addClient('Client', {
      generateSecret: false,
      // Scripts get test tokens with IAM credentials (`aws cognito-idp admin-initiate-auth`): the authorizer
      // accepts one audience, so they use this client too; browsers cannot use the flow.
      authFlows: { adminUserPassword: true },
      ...(callbackUrls.length === 0
        ? { disableOAuth: true }
        : {
            oAuth: {
              flows: { authorizationCodeGrant: true },
              scopes: [OAuthScope.OPENID, OAuthScope.PROFILE, OAuthScope.EMAIL],
              callbackUrls,
              logoutUrls: callbackUrls,
            },
          }),
      supportedIdentityProviders: [UserPoolClientIdentityProvider.COGNITO],
      preventUserExistenceErrors: true,
      // Short ID tokens (clients renew them before reconnecting), a month of refresh.
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
      enableTokenRevocation: true,
    })

    this.issuer = `https://cognito-idp.${region}.${urlSuffix}/${this.pool.userPoolId}`

    new CfnOutput(Stack.of(this), 'UserPoolId', {
      value: this.pool.userPoolId,
      description: 'Cognito user pool whose ID tokens the authorizer accepts',
    })
    new CfnOutput(Stack.of(this), 'UserPoolClientId', {
      value: this.client.userPoolClientId,
      description: 'Public app client: the web chat and apps sign in with it; its id is the tokens’ aud',
    })
    new CfnOutput(Stack.of(this), 'SignInDomain', {
      value: this.domain.baseUrl(),
      description: 'Hosted sign-in and sign-up pages',
    })
    new CfnOutput(Stack.of(this), 'TokenIssuer', {
      value: this.issuer,
      description: 'The iss of the pool’s tokens (its OpenID discovery document is under it)',
    })
  }

  /** The authorizer's settings, filled from the pool: the WebSocket token is the ID token. */
  tokenSettings(): TokenSettings {
    return {
      jwksUrl: `${this.issuer}/.well-known/jwks.json`,
      jwtIssuer: this.issuer,
      jwtAudience: this.client.userPoolClientId,
      identityClaim: cognitoIdentityClaim,
    }
  }

  /** What the web chat signs in with. */
  signInSettings(): SignInSettings {
    return {
      issuer: this.issuer,
      clientId: this.client.userPoolClientId,
      scope: signInScopes,
      identityClaim: cognitoIdentityClaim,
    }
  }
}
