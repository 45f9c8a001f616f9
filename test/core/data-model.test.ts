import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { itemKinds } from '../../lambdas/adapters/dynamo/keys.js'
import { tableSchema } from '../../lambdas/adapters/dynamo/table-schema.js'

/** The PK and SK columns of each row of docs/architecture.md's data-model table, without backticks. */
function documentedKeys(): string[] {
  const text = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8')
  const table = text.split('<!-- data-model:start -->')[1]?.split('<!-- data-model:end -->')[0] ?? ''
  const rows = table
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .slice(2)
  return rows.map((row) => {
    const cells = row.split('|').map((cell) => cell.trim().replaceAll('`', ''))
    return `${cells.at(-3)} ${cells.at(-2)}`
  })
}

/** A key pattern as a regular expression: each `<…>` stands for one or more characters. */
function patternOf(pattern: string): RegExp {
  const parts = pattern.split(/<[^>]+>/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
  return new RegExp(`^${parts.join('.+')}$`)
}

describe('the data model', () => {
  it('lists in docs/architecture.md exactly the kinds of item keys.ts builds', () => {
    expect(documentedKeys().sort()).toEqual(itemKinds.map((kind) => `${kind.pk} ${kind.sk}`).sort())
  })

  it("describes each kind by a pattern its builder's keys match", () => {
    const { partitionKey, sortKey } = tableSchema
    for (const kind of itemKinds) {
      expect(kind.sample[partitionKey], kind.item).toMatch(patternOf(kind.pk))
      expect(kind.sample[sortKey], kind.item).toMatch(patternOf(kind.sk))
    }
  })
})
