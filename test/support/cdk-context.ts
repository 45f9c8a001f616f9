import { readFileSync } from 'node:fs'
import { App } from 'aws-cdk-lib'
import { Template } from 'aws-cdk-lib/assertions'
import { authorizer, routes, workers } from '../../lambdas/routes.js'
import { readHuddleConfig } from '../../lib/config.js'
import { HuddleStack } from '../../lib/huddle-stack.js'

/** A resource of a synthesized template. */
export type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string }

/** cdk.json, for its feature flags and stages. */
export const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>
}

/** A valid production context: the JWT settings, an alarm e-mail and the web app's origin. */
export const context: Record<string, unknown> = {
  jwksUrl: 'https://login.example.com/.well-known/jwks.json',
  jwtIssuer: 'https://login.example.com/',
  jwtAudience: 'huddle-test',
  alarmEmail: 'ops@example.com',
  corsOrigins: 'https://app.example.com',
}

/** Synthesizes the stack (without bundling or cdk-nag) for another context and returns its template. */
export function templateFor(overrides: Record<string, unknown>): Template {
  const values = { ...context, ...overrides }
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } })
  const stack = new HuddleStack(app, 'Huddle', { config: readHuddleConfig((key) => values[key]).config })
  return Template.fromStack(stack)
}

/** A function's environment variables in a template. */
export function environmentOf(fn: Resource): Record<string, unknown> {
  return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables
}

function referenced(value: unknown): string {
  const match = JSON.stringify(value).match(/"(?:Ref|Fn::GetAtt)":\s*\[?"([A-Za-z0-9]+)"/)
  if (!match?.[1]) throw new Error(`no reference in ${JSON.stringify(value)}`)
  return match[1]
}

/**
 * Each function's environment in a template, by what names it in the route table: a route's key, the
 * authorizer's handler or a worker's handler.
 */
export function environmentsByFunction(template: Template): Map<string, Record<string, unknown>> {
  const resources = template.toJSON().Resources as Record<string, Resource>
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type)
  const byId = (id: string): Resource => {
    const found = resources[id]
    if (!found) throw new Error(`no resource ${id}`)
    return found
  }
  const environments = new Map<string, Record<string, unknown>>()
  for (const [, route] of ofType('AWS::ApiGatewayV2::Route')) {
    const integration = byId(referenced(route.Properties.Target))
    const fn = byId(referenced(integration.Properties.IntegrationUri))
    environments.set(route.Properties.RouteKey as string, environmentOf(fn))
  }
  const [[, connectAuthorizer] = []] = ofType('AWS::ApiGatewayV2::Authorizer')
  if (connectAuthorizer === undefined) throw new Error('no authorizer')
  environments.set(
    authorizer.handler,
    environmentOf(byId(referenced(connectAuthorizer.Properties.AuthorizerUri))),
  )
  for (const worker of workers) {
    const prefix = `${worker.handler[0]?.toUpperCase()}${worker.handler.slice(1)}Handler`
    const found = ofType('AWS::Lambda::Function').find(([id]) => id.startsWith(prefix))
    if (found === undefined) throw new Error(`no function for worker ${worker.handler}`)
    environments.set(worker.handler, environmentOf(found[1]))
  }
  if (environments.size !== routes.length + workers.length + 1) throw new Error('a function is missing')
  return environments
}
