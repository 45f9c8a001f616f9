import { build } from 'esbuild'
import { expect, it } from 'vitest'

it('bundles client/index.ts for the browser from the SDK sources and the shared protocol alone', async () => {
  const result = await build({
    entryPoints: ['client/index.ts'],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
  })
  expect(result.errors).toEqual([])
  const inputs = Object.keys(result.metafile.inputs)
  expect(inputs).toContain('client/client.ts')
  const shared = 'lambdas/core/protocol.ts'
  expect(
    inputs.filter((path) => (!path.startsWith('client/') && path !== shared) || path === 'client/node.ts'),
  ).toEqual([])
  const code = result.outputFiles[0]?.text ?? ''
  expect(code).toMatch(/export \{[^}]*\bChatClient\b/)
  expect(code).not.toMatch(/\bfrom\s*["'](ws|node:[a-z]+)["']|require\(/)
})
