import { execFile } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { startLocalStack } from '../local/stack.js'
import { keepIn } from './support/logs.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The local gateway (WebSocket, management API and /dev/token). */
    httpUrl: string
    dynamoEndpoint: string
    s3Endpoint: string
    /** The run's log file: the functions' output and the gateways' diagnostics (test/support/logs.ts). */
    logFile: string
  }
}

/**
 * `npm run synth` with its output kept: the CLI synth (cdk-nag included) that test/infra/bundles.test.ts reads
 * from cdk.out. A green synth says nothing; a failed one throws with everything the CDK printed.
 */
function synthesize(): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('npm', ['run', '--silent', 'synth'], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      error ? reject(new Error(`npm run synth failed:\n${stdout}${stderr}`)) : resolve(),
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
  if (underNpmTest) log('synthesizing the CDK app into cdk.out…')
  const [stack, synth] = await Promise.allSettled([
    startLocalStack({ port: 0, log, functionOutput: keep }),
    underNpmTest ? synthesize() : Promise.resolve(),
  ])
  if (stack.status === 'rejected') throw stack.reason
  if (synth.status === 'rejected') {
    await stack.value.stop()
    throw synth.reason
  }
  log(`ready; what the functions log goes to ${logFile}`)
  started = true
  const { url, dynamoEndpoint, s3Endpoint } = stack.value
  project.provide('httpUrl', url)
  project.provide('dynamoEndpoint', dynamoEndpoint)
  project.provide('s3Endpoint', s3Endpoint)
  project.provide('logFile', logFile)
  return () => stack.value.stop()
}
