import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const run = promisify(execFile)
const projectRoot = fileURLToPath(new URL('..', import.meta.url))

interface Packed {
  name: string
  version: string
  size: number
  unpackedSize: number
  entryCount: number
}

/** What `npm pack` would publish, from the dist that `npm run build` leaves. */
async function packed(): Promise<Packed> {
  await run('npm', ['run', 'build', '--silent'], { cwd: projectRoot })
  const args = ['pack', '-w', '@huddle/client', '--dry-run', '--json', '--ignore-scripts']
  const { stdout } = await run('npm', args, { cwd: projectRoot })
  const [result] = JSON.parse(stdout) as Packed[]
  if (!result) throw new Error('npm pack reported no package')
  return result
}

/** The whole package as a browser app's bundler sees it: the `browser` entry, minified. */
async function browserBundle(): Promise<Uint8Array> {
  const result = await build({
    stdin: { contents: "export * from '@huddle/client'", resolveDir: projectRoot },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    minify: true,
    write: false,
    logLevel: 'error',
  })
  const output = result.outputFiles[0]
  if (!output) throw new Error('esbuild wrote no bundle')
  return output.contents
}

const size = (bytes: number) => `${bytes.toLocaleString('en')} B (${(bytes / 1024).toFixed(1)} KiB)`

const pack = await packed()
const bundle = await browserBundle()
const rows: [string, string][] = [
  ['tarball (npm pack)', size(pack.size)],
  [`unpacked (${pack.entryCount} files)`, size(pack.unpackedSize)],
  ['browser bundle, minified (esbuild, ESM)', size(bundle.byteLength)],
  ['  gzipped (level 9)', size(gzipSync(bundle, { level: 9 }).byteLength)],
]
const width = Math.max(...rows.map(([label]) => label.length))
console.log(`${pack.name}@${pack.version}`)
for (const [label, value] of rows) console.log(`  ${label.padEnd(width)}  ${value}`)
