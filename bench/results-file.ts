import { readFile, rename, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

/** bench/results.json: each bench keeps its figures under a key of its own; bench/report.ts renders the file. */
export const resultsFile = fileURLToPath(new URL('results.json', import.meta.url))

/** The parsed file, or an empty object before any bench has written it. */
export async function readResults(): Promise<Record<string, unknown>> {
  try {
    return withKey(JSON.parse(await readFile(resultsFile, 'utf8')))
  } catch {
    return {}
  }
}

/** The parsed results file with `value` under `key` (if given), keeping every other bench's keys. */
export function withKey(file: unknown, key?: string, value?: unknown): Record<string, unknown> {
  const kept = typeof file === 'object' && file !== null && !Array.isArray(file) ? { ...file } : {}
  return key === undefined ? kept : { ...kept, [key]: value }
}

/** Writes `value` under `key`, keeping the other keys; the file is replaced whole, never left half-written. */
export async function saveResults(key: string, value: unknown): Promise<void> {
  await mergeResults({ [key]: value })
}

/** Writes each of `fields` at the top of the file (the fan-out bench's own), keeping every other key. */
export async function mergeResults(fields: Record<string, unknown>): Promise<void> {
  const file = { ...(await readResults()), ...fields }
  await writeFile(`${resultsFile}.tmp`, `${JSON.stringify(file, null, 2)}\n`)
  await rename(`${resultsFile}.tmp`, resultsFile)
  console.log(`\nwrote ${resultsFile} (${Object.keys(fields).join(', ')})`)
}
