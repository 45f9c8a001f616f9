import { execFile } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { startLocalStack } from '../local/stack.js'
import type { SynthStatus } from './support/cdk-out.js'
import { keepIn } from './support/logs.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The local gateway (WebSocket, management API and /dev/token). */
    httpUrl: string
    dynamoEndpoint: string
    s3Endpoint: string
    /** The run's log file: the functions' output and the gateways' diagnostics (test/support/logs.ts). */
    logFile: string
    /** Under `npm test`, the file the synth's outcome is written to when it ends (test/support/cdk-out.ts). */
    synthStatus: string
  }
}

/**
 * `npm run synth` with its output kept: the CLI synth (cdk-nag included) that test/infra/bundles.test.ts and
 * cfn-lint.test.ts read from cdk.out. A green synth says nothing; a failed one throws what the CDK printed.
 */
function synthesize(): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('npm', ['run', '--silent', 'synth'], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${stdout}${stderr}`)) : resolve(),
    )
  })
}

/** Starts the local stack once for the whole run, in memory; under `npm test` it synthesizes the CDK app beside it. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
  const logFile = join(await mkdtemp(join(tmpdir(), 'huddle-test-')), 'run.log')
  await writeFile(logFile, '')
  const keep = keepIn(logFile)
  // Start-up progress goes to the screen; once the stack runs, what it logs goes to the run's log file.
  let started = false
  const log = (line: string) =>
    started ? keep('gateway', line) : process.stderr.write(`[local stack] ${line}\n`)
  const underNpmTest = process.env.npm_lifecycle_event === 'test'
  // The synth runs beside the tests; only the ones that read cdk.out wait for it.
  const synthStatus = join(dirname(logFile), 'synth-status.json')
  const synth = underNpmTest
    ? synthesize().then(
        () => writeFile(synthStatus, JSON.stringify({ ok: true } satisfies SynthStatus)),
        (error: Error) =>
          writeFile(synthStatus, JSON.stringify({ ok: false, output: error.message } satisfies SynthStatus)),
      )
    : undefined
  if (underNpmTest) log('synthesizing the CDK app into cdk.out beside the tests…')
  const stack = await startLocalStack({ port: 0, log, functionOutput: keep })
  log(`ready; what the functions log goes to ${logFile}`)
  started = true
  const { url, dynamoEndpoint, s3Endpoint } = stack
  project.provide('httpUrl', url)
  project.provide('dynamoEndpoint', dynamoEndpoint)
  project.provide('s3Endpoint', s3Endpoint)
  project.provide('logFile', logFile)
  if (underNpmTest) project.provide('synthStatus', synthStatus)
  return async () => {
    await stack.stop()
    await synth
  }
}
