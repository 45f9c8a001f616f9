import { describe, expect, it } from 'vitest'
import { runLoad } from '../bench/load-run.js'
import { httpUrl } from './support/huddle.js'

describe('delivery under load, with members joining and leaving', () => {
  it('delivers every message to every joined member exactly once, in order, and to nobody else', async () => {
    const report = await runLoad({ httpUrl: httpUrl(), connections: 40, groups: 4, messages: 300, seed: 5 })

    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0, misdelivered: 0, errors: 0 })
    expect(report.sent).toBe(300)
    // The run really exercised what it checks: deliveries were owed, and members came and went.
    expect(report.expected).toBeGreaterThan(1000)
    expect(report.arrived).toBeGreaterThanOrEqual(report.expected)
    expect(report.leaves).toBeGreaterThan(0)
    expect(report.ok).toBe(true)
  }, 60_000)
})
