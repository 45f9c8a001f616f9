/** cfn-lint, where it is installed, on the templates `npm test` synthesizes into cdk.out and on a production stage. */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { App } from 'aws-cdk-lib'
import { Template } from 'aws-cdk-lib/assertions'
import { describe, expect, it } from 'vitest'
import { readHuddleConfig } from '../../lib/config.js'
import { HuddleStack } from '../../lib/huddle-stack.js'
import { cdkJson, context } from '../support/cdk-context.js'
import { cdkOut, cdkOutReady, underNpmTest } from '../support/cdk-out.js'

const installed = spawnSync('cfn-lint', ['--version']).status === 0
if (!installed) {
  console.warn(
    'test/infra/cfn-lint.test.ts is skipped: cfn-lint is not installed (`pip install cfn-lint` to lint the templates)',
  )
}

interface Manifest {
  artifacts: Record<string, { type: string; properties?: { templateFile?: string } }>
}

/** The stack templates in cdk.out, as its manifest lists them, and the nested stacks' templates they name. */
async function synthesizedTemplates(): Promise<string[]> {
  // `npm test` synthesizes the CDK app into cdk.out beside the tests; other runs lint what is there.
  if (!(await cdkOutReady())) {
    if (underNpmTest)
      throw new Error('cdk.out is missing: `npm test` runs `npm run synth` in its global setup')
    return []
  }
  const manifest = JSON.parse(readFileSync(join(cdkOut, 'manifest.json'), 'utf8')) as Manifest
  const stacks = Object.values(manifest.artifacts).flatMap((artifact) => {
    const templateFile = artifact.properties?.templateFile
    return artifact.type === 'aws:cloudformation:stack' && templateFile ? [join(cdkOut, templateFile)] : []
  })
  return [...stacks, ...stacks.flatMap(nestedTemplates)]
}

/** The templates of the nested stacks a template creates, at the asset paths the CDK recorded. */
function nestedTemplates(templateFile: string): string[] {
  const { Resources } = JSON.parse(readFileSync(templateFile, 'utf8')) as {
    Resources: Record<string, { Type: string; Metadata?: Record<string, unknown> }>
  }
  return Object.values(Resources).flatMap((resource) => {
    const path = resource.Metadata?.['aws:asset:path']
    return resource.Type === 'AWS::CloudFormation::Stack' && typeof path === 'string'
      ? [join(cdkOut, path)]
      : []
  })
}

/**
 * A stage that keeps its data, with every optional resource (both alarm topics, the logging role, access
 * logs): its template and its monitoring stack's.
 */
function productionTemplates(): string[] {
  const values: Record<string, unknown> = {
    ...context,
    alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops-pager',
    apiGatewayLogsRole: 'true',
  }
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } })
  const stack = new HuddleStack(app, 'Huddle', { config: readHuddleConfig((key) => values[key]).config })
  const directory = mkdtempSync(join(tmpdir(), 'huddle-cfn-lint-'))
  const write = (name: string, template: Template): string => {
    const file = join(directory, name)
    writeFileSync(file, JSON.stringify(template.toJSON()))
    return file
  }
  return [
    write('Huddle-prod.template.json', Template.fromStack(stack)),
    write('Huddle-prod-monitoring.template.json', Template.fromStack(stack.monitoring)),
  ]
}

interface Finding {
  Level: string
  Message: string
  Filename: string
  Rule: { Id: string }
  Location: { Path?: (string | number)[] }
}

describe.skipIf(!installed)('cfn-lint', () => {
  it('finds no error in the synthesized templates (warnings are its advice, not failures)', async () => {
    const templates = [...(await synthesizedTemplates()), ...productionTemplates()]
    const run = spawnSync('cfn-lint', ['--format', 'json', '--', ...templates], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    })
    // cfn-lint's exit status is a bit mask of what it found; anything but JSON means it did not run.
    const findings = JSON.parse(run.stdout || 'null') as Finding[] | null
    expect(findings, run.stderr).not.toBeNull()
    const errors = (findings ?? [])
      .filter((finding) => finding.Level === 'Error')
      .map(
        (finding) =>
          `${finding.Rule.Id} ${finding.Message} at ${(finding.Location.Path ?? []).join('/')} in ${finding.Filename}`,
      )
    expect(errors).toEqual([])
  }, 300_000)
})
