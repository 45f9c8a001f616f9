import { defaultProvider } from '@aws-sdk/credential-provider-node'
import { loadConfig, NODE_REGION_CONFIG_FILE_OPTIONS, NODE_REGION_CONFIG_OPTIONS } from '@smithy/core/config'

/** Where the SDK looks for the region: AWS_REGION (set by Lambda), then the shared config files. */
export const region = loadConfig(NODE_REGION_CONFIG_OPTIONS, NODE_REGION_CONFIG_FILE_OPTIONS)
/** The SDK's default credential chain; it keeps what it found until near its expiry. */
export const credentials = defaultProvider()
