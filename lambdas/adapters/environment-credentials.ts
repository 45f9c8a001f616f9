import { fromEnv } from '@aws-sdk/credential-provider-env'

/**
 * Stands in for `@aws-sdk/credential-provider-node` in the handler bundles (lambdas/bundle-aliases.ts): on
 * Lambda a function's role credentials are in its environment, the first place the SDK's default chain looks,
 * and the rest of that chain (SSO, profiles, STS, instance metadata) would never run but double a bundle.
 */
export const defaultProvider: typeof import('@aws-sdk/credential-provider-node').defaultProvider = () =>
  fromEnv()
