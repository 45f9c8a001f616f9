import type { RemovalPolicy, Stack } from 'aws-cdk-lib'
import type { WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2'
import type { IBucket } from 'aws-cdk-lib/aws-s3'
import { allowAvatarOrigins } from './avatar-cors.js'
import type { HuddleConfig } from './config.js'
import {
  HuddleUserPool,
  type SignInSettings,
  signInScopes,
  type TokenSettings,
  userPoolOrigins,
} from './user-pool.js'
import { WebChatSite } from './web-chat-site.js'

/** What the stage's sign-in and web chat are wired to: the API, its stage and the avatar bucket. */
export interface SignInAndWebChatProps {
  config: HuddleConfig
  apiId: string
  stage: WebSocketStage
  avatars: IBucket
  removalPolicy: RemovalPolicy
}

/**
 * The stage's optional user pool (`userPool`) and deployed web chat (`webChat`), wired to each other: the site
 * first, since the pool sends users back to it and its policy needs only the pool's origins; then the pool;
 * then the site's config.json with the pool's client. Answers the authorizer's settings when the pool makes them.
 */
export function addSignInAndWebChat(stack: Stack, props: SignInAndWebChatProps): TokenSettings | undefined {
  const { config, stage, avatars } = props
  const site = config.webChat
    ? new WebChatSite(stack, 'WebChat', {
        websocketOrigin: `wss://${props.apiId}.execute-api.${stack.region}.${stack.urlSuffix}`,
        bucketOrigin: `https://${avatars.bucketName}.s3.${stack.region}.${stack.urlSuffix}`,
        signInOrigins: config.userPool
          ? userPoolOrigins(stack, config.stageName, config.userPool)
          : config.signInClientId
            ? [new URL(config.jwtIssuer).origin]
            : [],
      })
    : undefined
  const userPool = config.userPool
    ? new HuddleUserPool(stack, 'UserPool', {
        stageName: config.stageName,
        config: config.userPool,
        ...(site && { webChatUrl: site.url }),
        removalPolicy: props.removalPolicy,
      })
    : undefined
  if (site) {
    allowAvatarOrigins(stack, avatars, [...config.corsOrigins, site.origin])
    const ownProvider: SignInSettings | undefined = config.signInClientId
      ? {
          issuer: config.jwtIssuer,
          clientId: config.signInClientId,
          scope: signInScopes,
          identityClaim: config.identityClaim,
        }
      : undefined
    const signIn = userPool?.signInSettings() ?? ownProvider
    site.deploy({ websocketUrl: stage.url, ...(signIn && { signIn }) })
  }
  return userPool?.tokenSettings()
}
