/** CloudFormation's limits on the stack with every optional part: resources per template, parameters per stack. */
import { App } from 'aws-cdk-lib'
import { Template } from 'aws-cdk-lib/assertions'
import { describe, expect, it } from 'vitest'
import { routes, workers } from '../../lambdas/routes.js'
import { readHuddleConfig } from '../../lib/config.js'
import { HuddleStack } from '../../lib/huddle-stack.js'
import { cdkJson, context } from '../support/cdk-context.js'

/** CloudFormation refuses a template of more than 500 resources; a budget below it leaves room for a release. */
const resourceBudget = 450
/** And a stack of more than 200 parameters: the nested stack's are what the main stack passes it. */
const parameterBudget = 180

// The largest stage: a user pool, the web chat, access logs, the account's logging role, both alarm topics.
const values: Record<string, unknown> = {
  ...context,
  jwksUrl: undefined,
  jwtIssuer: undefined,
  jwtAudience: undefined,
  userPool: 'true',
  webChat: 'true',
  signInCallbackUrls: 'http://localhost:3001/',
  accessLogs: 'true',
  apiGatewayLogsRole: 'true',
  alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops-pager',
}
const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } })
const stack = new HuddleStack(app, 'Huddle', { config: readHuddleConfig((key) => values[key]).config })
const main = Template.fromStack(stack).toJSON()
const monitoring = Template.fromStack(stack.monitoring).toJSON()
const count = (section: unknown) => Object.keys(section ?? {}).length

describe('stack size', () => {
  it(`keeps the main template within ${resourceBudget} of CloudFormation's 500 resources`, () => {
    const resources = count(main.Resources)
    expect(
      resources,
      `The main template has ${resources} resources, over its budget of ${resourceBudget} (CloudFormation refuses ` +
        'more than 500): move a capability that needs no route of its own (as lib/monitoring.ts moves the alarms ' +
        'and dashboard) into a nested stack, or raise the budget only as far as the next release still fits.',
    ).toBeLessThanOrEqual(resourceBudget)
    // About 8 a route (function, role, policy, log group, permission, integration, route, route response).
    expect(resources).toBeGreaterThan(8 * routes.length)
  })

  it(`keeps the monitoring stack within ${resourceBudget} resources and ${parameterBudget} of 200 parameters`, () => {
    const resources = count(monitoring.Resources)
    expect(
      resources,
      `The monitoring stack has ${resources} resources, over its budget of ${resourceBudget} (CloudFormation ` +
        'refuses more than 500): split lib/monitoring.ts into two nested stacks (the route functions’ alarms ' +
        'in one, the rest in the other).',
    ).toBeLessThanOrEqual(resourceBudget)
    const parameters = count(monitoring.Parameters)
    expect(
      parameters,
      `The monitoring stack takes ${parameters} parameters, over its budget of ${parameterBudget} (CloudFormation ` +
        'refuses more than 200): pass several values as one (the functions’ names joined, picked out with ' +
        'Fn::Select) or split lib/monitoring.ts into two nested stacks.',
    ).toBeLessThanOrEqual(parameterBudget)
    // One a function watched, one a failure queue (and a queued worker's own queue), the API's id and the
    // table's name: each value passed once.
    const queued = workers.filter((w) => w.queued).length
    expect(parameters).toBe(routes.length + 1 + 2 * workers.length + queued + 2)
  })
})
