/** cdk.out as `npm test` synthesizes it beside the tests (test/global-setup.ts), for the tests that read it. */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inject } from 'vitest'

export const cdkOut = fileURLToPath(new URL('../../cdk.out/', import.meta.url))
export const underNpmTest = process.env.npm_lifecycle_event === 'test'

/** What the global setup writes to `synthStatus` once `npm run synth` has ended. */
export type SynthStatus = { ok: true } | { ok: false; output: string }

/**
 * Waits for this run's synth under `npm test` (it runs beside the first test files) and throws with what the
 * CDK printed if it failed; other runs read whatever cdk.out holds. Answers whether cdk.out is there.
 */
export async function cdkOutReady(): Promise<boolean> {
  const statusFile = underNpmTest ? inject('synthStatus') : undefined
  if (statusFile) {
    const deadline = Date.now() + 300_000
    while (!existsSync(statusFile)) {
      if (Date.now() > deadline) throw new Error('npm run synth did not end within 5 minutes')
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    const status = JSON.parse(readFileSync(statusFile, 'utf8')) as SynthStatus
    if (!status.ok) throw new Error(`npm run synth failed:\n${status.output}`)
  }
  return existsSync(join(cdkOut, 'manifest.json'))
}
