import { fileURLToPath } from 'node:url'

/**
 * Modules every handler bundle takes in place of others (esbuild's `alias`), for the CDK stack, the local
 * gateway and the cold-start bench alike: the SDK's clients import its whole default credential chain, of
 * which a function on Lambda uses only the environment's credentials.
 */
export const bundleAliases: Record<string, string> = {
  '@aws-sdk/credential-provider-node': fileURLToPath(
    new URL('adapters/environment-credentials.ts', import.meta.url),
  ),
}
