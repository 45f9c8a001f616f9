/** docs/operations.md's settings tables are the ones lambdas/settings.ts and lib/config.ts generate. */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { settings } from '../../lambdas/settings.js'
import { deploymentKeys, stageSelectionKeys, stageSettingKeys } from '../../lib/config.js'
import { betweenMarkers, operationsDoc, settingsTables } from '../../lib/settings-doc.js'

describe('the settings tables in docs/operations.md', () => {
  it('are the generated ones (regenerate with `npx tsx lib/settings-doc.ts --write`)', () => {
    const documented = betweenMarkers(readFileSync(operationsDoc, 'utf8'))
    expect(documented, 'docs/operations.md lacks its settings markers').toBeDefined()
    expect(
      documented,
      'docs/operations.md is out of date with lambdas/settings.ts: run `npx tsx lib/settings-doc.ts --write`',
    ).toBe(settingsTables())
  })

  it('document every key a stage may set, and every variable a function may read a setting from', () => {
    const tables = settingsTables()
    for (const key of [...stageSettingKeys, ...Object.keys(stageSelectionKeys)]) {
      expect(tables, key).toContain(`| \`${key}\` |`)
    }
    for (const row of Object.values(settings)) expect(tables).toContain(`\`${row.variable}\``)
    expect(Object.keys(deploymentKeys).every((key) => stageSettingKeys.includes(key))).toBe(true)
  })
})
