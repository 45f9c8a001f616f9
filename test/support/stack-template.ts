/** The production stack synthesized once, with cdk-nag and the schema check, and the helpers that read its template. */
import { App, Validations } from 'aws-cdk-lib'
import { Template } from 'aws-cdk-lib/assertions'
import { AwsSolutionsChecks } from 'cdk-nag'
import { routes } from '../../lambdas/routes.js'
import { readHuddleConfig } from '../../lib/config.js'
import { HuddleStack } from '../../lib/huddle-stack.js'
import { cdkJson, context, type Resource } from './cdk-context.js'

export { context, environmentOf, type Resource, templateFor } from './cdk-context.js'

export type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown }
export type AlarmMetric = {
  Id: string
  Expression?: string
  MetricStat?: {
    Metric: { MetricName: string; Namespace: string; Dimensions?: unknown }
    Period: number
  }
}

/** What a read-write table grant allows, sorted. */
export const tableReadWrite = [
  'dynamodb:BatchGetItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DeleteItem',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:UpdateItem',
]
export const { config } = readHuddleConfig((key) => context[key])

// One synthesis per test file that imports this: the production shape, cdk.json's feature flags, no bundling,
// cdk-nag registered the way bin/app.ts does, CDK's CloudFormation schema check (off in bin/app.ts for a
// fast synth) on, and every finding written to the validation report instead of thrown.
export const app = new App({
  context: {
    ...cdkJson.context,
    'aws:cdk:bundling-stacks': [],
    '@aws-cdk/core:failSynthOnValidationErrors': false,
  },
})
export const stack = new HuddleStack(app, 'Huddle', { config })
Validations.of(app).addPlugins(new AwsSolutionsChecks(app))
export const assembly = app.synth()
export const template = Template.fromJSON(assembly.getStackByName(stack.stackName).template)
export const resources = template.toJSON().Resources as Record<string, Resource>

export const resource = (logicalId: string): Resource => {
  const found = resources[logicalId]
  if (!found) throw new Error(`no resource ${logicalId}`)
  return found
}
export const ofType = (type: string): [string, Resource][] =>
  Object.entries(resources).filter(([, resource]) => resource.Type === type)
export const logicalIdIn = (value: unknown): string => {
  const match = JSON.stringify(value).match(/"(?:Ref|Fn::GetAtt)":\s*\[?"([A-Za-z0-9]+)"/)
  if (!match?.[1]) throw new Error(`no reference in ${JSON.stringify(value)}`)
  return match[1]
}
export const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value])

/** A CloudFormation value as text: `Bucket.Arn/uploads/*` for a Fn::Join of a GetAtt and a string. */
export const rendered = (value: unknown): string => {
  if (typeof value === 'string') return value
  const intrinsic = value as { 'Fn::Join'?: [string, unknown[]]; 'Fn::GetAtt'?: string[]; Ref?: string }
  if (intrinsic['Fn::Join']) return intrinsic['Fn::Join'][1].map(rendered).join(intrinsic['Fn::Join'][0])
  if (intrinsic['Fn::GetAtt']) return intrinsic['Fn::GetAtt'].join('.')
  if (intrinsic.Ref) return intrinsic.Ref
  return JSON.stringify(value)
}

/** Route key → the logical id of the Lambda function its integration invokes. */
export const functionByRoute = new Map(
  ofType('AWS::ApiGatewayV2::Route').map(([, route]) => {
    const integration = resource(logicalIdIn(route.Properties.Target))
    return [route.Properties.RouteKey as string, logicalIdIn(integration.Properties.IntegrationUri)]
  }),
)
export const authorizerFunctionId = logicalIdIn(
  ofType('AWS::ApiGatewayV2::Authorizer')[0]?.[1].Properties.AuthorizerUri ?? 'no authorizer',
)
/** The functions no route or authorizer invokes: the workers. */
export const workerFunctionIds = ofType('AWS::Lambda::Function')
  .map(([id]) => id)
  .filter((id) => id !== authorizerFunctionId && ![...functionByRoute.values()].includes(id))
export const fanOutFunctionId = workerFunctionIds[0] ?? 'no worker'

/** The function behind a route key, or the function with this logical id. */
export const functionOf = (routeKey: string): Resource => resource(functionByRoute.get(routeKey) ?? routeKey)

export const statementsIn = (policies: [string, Resource][]): Statement[] =>
  policies.flatMap(([, policy]) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
export const allStatements = statementsIn(ofType('AWS::IAM::Policy'))

/** Every statement of the policies attached to the role of the function behind `routeKey`. */
export const statementsOf = (routeKey: string): Statement[] => {
  const roleId = logicalIdIn(functionOf(routeKey).Properties.Role)
  return statementsIn(
    ofType('AWS::IAM::Policy').filter(([, policy]) =>
      (policy.Properties.Roles as unknown[]).some((r) => logicalIdIn(r) === roleId),
    ),
  )
}
/** Every IAM action granted to the role of the function behind `routeKey`. */
export const actionsOf = (routeKey: string): string[] =>
  statementsOf(routeKey).flatMap((s) => asArray(s.Action))

/** One action on one resource, whatever statements the policy minimizer merged it into. */
export type Grant = { action: string; resource: string; condition?: unknown }
export const grantsOf = (routeKey: string, service: string): Grant[] =>
  statementsOf(routeKey)
    .flatMap((statement) =>
      asArray(statement.Action).flatMap((action) =>
        asArray(statement.Resource).map((resource) => ({
          action,
          resource: rendered(resource),
          ...(statement.Condition ? { condition: statement.Condition } : {}),
        })),
      ),
    )
    .filter((grant) => grant.action.startsWith(`${service}:`))
export const sortedGrants = (grants: Grant[]): Grant[] =>
  [...grants].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))

export const bucketArn = `${ofType('AWS::S3::Bucket')[0]?.[0]}.Arn`
export const tableArn = `${ofType('AWS::DynamoDB::GlobalTable')[0]?.[0]}.Arn`
export const dynamoWriteActions =
  /^dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem|ConditionCheckItem|PartiQL(Insert|Update|Delete))$/
export const writingRoutes = routes
  .filter((route) => route.access.table === 'readWrite')
  .map((r) => r.routeKey)

/** The metrics an alarm reads: its own metric, or those its metric-math expression uses. */
export const metricsOf = (
  alarm: Record<string, unknown>,
): { name: string; namespace: string; dimensions: string }[] =>
  alarm.MetricName
    ? [
        {
          name: alarm.MetricName as string,
          namespace: alarm.Namespace as string,
          dimensions: JSON.stringify(alarm.Dimensions),
        },
      ]
    : ((alarm.Metrics as AlarmMetric[] | undefined) ?? []).flatMap((m) =>
        m.MetricStat
          ? [
              {
                name: m.MetricStat.Metric.MetricName,
                namespace: m.MetricStat.Metric.Namespace,
                dimensions: JSON.stringify(m.MetricStat.Metric.Dimensions),
              },
            ]
          : [],
      )
export const expressionOf = (alarm: Record<string, unknown>): string | undefined =>
  (alarm.Metrics as AlarmMetric[] | undefined)?.find((m) => m.Expression)?.Expression
