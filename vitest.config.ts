import { defineConfig } from 'vitest/config'
import { BaseSequencer, type TestSpecification } from 'vitest/node'

/** The files that read cdk.out, which `npm test` synthesizes beside the first ones (test/support/cdk-out.ts). */
const readsCdkOut = /\/test\/infra\/(bundles|cfn-lint)\.test\.ts$/

/** Vitest's order (the longest files first), with the files that wait for the synth last, so none holds a worker while it runs. */
class SynthLastSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files)
    const last = (file: TestSpecification) => (readsCdkOut.test(file.moduleId) ? 1 : 0)
    return sorted.sort((a, b) => last(a) - last(b))
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The emulators start once per run, in the main process; test files reach them over loopback.
    globalSetup: ['test/global-setup.ts'],
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: two test files at a time beside the emulators.
    maxWorkers: 2,
    // Each worker imports the project once rather than once per file (a quarter of the run's CPU went to
    // re-importing it). A file that changes the process's environment stubs it (vi.stubEnv) and restores it.
    isolate: false,
    sequence: { sequencer: SynthLastSequencer },
  },
})
