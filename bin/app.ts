import { Annotations, App, Validations } from 'aws-cdk-lib'
import { AwsSolutionsChecks } from 'cdk-nag'
import { ConfigError, type ConfigResult, readHuddleConfig } from '../lib/config.js'
import { HuddleStack } from '../lib/huddle-stack.js'

// CDK's CloudFormation schema check doubles synth time; test/infra/stack.test.ts runs it instead.
const app = new App({ builtinCloudFormationValidation: false })

let result: ConfigResult
try {
  result = readHuddleConfig((key) => app.node.tryGetContext(key))
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  console.error(error.message)
  process.exit(1)
}
const { config, warnings } = result

const stack = new HuddleStack(app, `Huddle-${config.stageName}`, {
  config,
  description: 'Huddle: group chat over API Gateway WebSockets',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
})
for (const warning of warnings) Annotations.of(stack).addWarningV2('huddle:config', warning)

// Unacknowledged findings fail the synth; each acknowledgement in lib/ carries its reason.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }))
