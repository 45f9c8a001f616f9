import { build } from 'esbuild'
import { expect, it } from 'vitest'

it('bundles @huddle/client for the browser from the package alone, with no Node-only module', async () => {
  const result = await build({
    stdin: { contents: "export * from '@huddle/client'", resolveDir: process.cwd() },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
  })
  expect(result.errors).toEqual([])
  const inputs = Object.keys(result.metafile.inputs).filter((path) => path !== '<stdin>')
  expect(inputs).toContain('packages/client/dist/client.js')
  expect(
    inputs.filter((path) => !path.startsWith('packages/client/dist/') || path.endsWith('/node.js')),
  ).toEqual([])
  const code = result.outputFiles[0]?.text ?? ''
  expect(code).toMatch(/export \{[^}]*\bChatClient\b/)
  expect(code).not.toMatch(/\bfrom\s*["'](ws|node:[a-z]+)["']|require\(|import\(/)
})
