/** cfn-lint, where it is installed, on the templates `npm test` synthesizes into cdk.out and on a production stage. */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { templateFor } from '../support/cdk-context.js'
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

/** The stack templates in cdk.out, as its manifest lists them. */
async function synthesizedTemplates(): Promise<string[]> {
  // `npm test` synthesizes the CDK app into cdk.out beside the tests; other runs lint what is there.
  if (!(await cdkOutReady())) {
    if (underNpmTest)
      throw new Error('cdk.out is missing: `npm test` runs `npm run synth` in its global setup')
    return []
  }
  const manifest = JSON.parse(readFileSync(join(cdkOut, 'manifest.json'), 'utf8')) as Manifest
  return Object.values(manifest.artifacts).flatMap((artifact) => {
    const templateFile = artifact.properties?.templateFile
    return artifact.type === 'aws:cloudformation:stack' && templateFile ? [join(cdkOut, templateFile)] : []
  })
}

/** A stage that keeps its data, with every optional resource: both alarm topics, the logging role, access logs. */
function productionTemplate(): string {
  const template = templateFor({
    alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops-pager',
    apiGatewayLogsRole: 'true',
  })
  const file = join(mkdtempSync(join(tmpdir(), 'huddle-cfn-lint-')), 'Huddle-prod.template.json')
  writeFileSync(file, JSON.stringify(template.toJSON()))
  return file
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
    const templates = [...(await synthesizedTemplates()), productionTemplate()]
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
