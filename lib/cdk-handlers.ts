import { type Stack, Validations } from 'aws-cdk-lib'
import * as iam from 'aws-cdk-lib/aws-iam'
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js'

/**
 * A handler the CDK ships for its own custom resources (one per stack) comes with its own role, grants and
 * runtime, which cdk-nag reports: each finding is acknowledged by its exact id, with what the handler does.
 */
export function acknowledgeCdkHandler(stack: Stack, idPrefix: string, does: string, runtime: boolean): void {
  const handlers = stack.node.children.filter((child) => child.node.id.startsWith(idPrefix))
  if (handlers.length === 0) throw new Error(`no ${idPrefix} handler in ${stack.node.path}`)
  const reason =
    `The CDK's handler ${does}; the CDK sets its role (the basic execution policy, wildcard grants on those ` +
    'objects) and its runtime, and it runs only while the stack deploys.'
  for (const handler of handlers) {
    const findings = [
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      ...(runtime ? ['AwsSolutions-L1'] : []),
    ]
    const policy = handler.node.tryFindChild('ServiceRole')?.node.tryFindChild('DefaultPolicy')
    if (policy instanceof iam.Policy) {
      const document = stack.resolve(policy.document.toJSON()) as {
        Statement: { Action: string | string[]; Resource: unknown }[]
      }
      for (const statement of document.Statement) {
        for (const action of [statement.Action].flat()) {
          if (action.includes('*')) findings.push(`AwsSolutions-IAM5[Action::${action}]`)
        }
        for (const resource of [statement.Resource].flat()) {
          const flat = flattenCfnReference(resource)
          if (flat.includes('*')) findings.push(`AwsSolutions-IAM5[Resource::${flat}]`)
        }
      }
    }
    for (const id of findings) Validations.of(handler).acknowledge({ id, reason })
  }
}
