import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { receivers, settings } from '../lambdas/settings.js'
import { deploymentKeys, stageSelectionKeys } from './config.js'

/** docs/operations.md, whose settings section this generates. */
export const operationsDoc = fileURLToPath(new URL('../docs/operations.md', import.meta.url))
/** The markers around the generated part of docs/operations.md. */
export const settingsMarkers = { start: '<!-- settings:start -->', end: '<!-- settings:end -->' } as const

const cell = (text: string): string => text.replaceAll('|', '\\|')

/** The settings tables, in markdown: the functions' settings from lambdas/settings.ts, then the deployment's keys. */
export function settingsTables(): string {
  const functionRows = Object.entries(settings).map(([key, row]) => {
    const fallback = 'fallback' in row ? `\`${row.fallback}\`` : '**required**'
    const who = receivers[row.receivers].describe
    return `| \`${key}\` | \`${row.variable}\` | ${fallback} | ${who} | ${cell(row.doc)} |`
  })
  const deploymentRows = Object.entries({ ...stageSelectionKeys, ...deploymentKeys }).map(
    ([key, row]) => `| \`${key}\` | ${row.fallback} | ${cell(row.doc)} |`,
  )
  return [
    'The functions receive these as environment variables, each only where its row says:',
    '',
    '| cdk.json key | environment variable | default | functions | meaning |',
    '|---|---|---|---|---|',
    ...functionRows,
    '',
    'These shape the deployment itself:',
    '',
    '| context key | default | meaning |',
    '|---|---|---|',
    ...deploymentRows,
  ].join('\n')
}

/** What lies between the markers of a document, or undefined when it has none. */
export function betweenMarkers(document: string): string | undefined {
  const start = document.indexOf(settingsMarkers.start)
  const end = document.indexOf(settingsMarkers.end)
  if (start < 0 || end < start) return undefined
  return document.slice(start + settingsMarkers.start.length, end).trim()
}

/** The document with the generated tables between its markers. */
export function withSettingsTables(document: string): string {
  const start = document.indexOf(settingsMarkers.start)
  const end = document.indexOf(settingsMarkers.end)
  if (start < 0 || end < start)
    throw new Error(`${operationsDoc} lacks ${settingsMarkers.start} … ${settingsMarkers.end}`)
  return `${document.slice(0, start + settingsMarkers.start.length)}\n${settingsTables()}\n${document.slice(end)}`
}

// `npx tsx lib/settings-doc.ts --write` rewrites docs/operations.md's tables; without it, prints them.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--write')) {
    writeFileSync(operationsDoc, withSettingsTables(readFileSync(operationsDoc, 'utf8')))
  } else {
    console.log(settingsTables())
  }
}
