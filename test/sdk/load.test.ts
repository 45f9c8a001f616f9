import { describe, expect, it } from 'vitest'
import { runLoad } from '../../bench/load-run.js'
import { httpUrl } from '../support/huddle.js'

describe('the SDK under load, with members joining and leaving, admins at work and sockets cut at random', () => {
  it('hands every app exactly the events it was owed, once each, in order', async () => {
    const report = await runLoad({
      httpUrl: httpUrl(),
      connections: 24,
      groups: 4,
      messages: 150,
      cutsPerSecond: 5,
      thinkMs: 50,
      adminRate: 0.2,
      // About 7 leaves expected: at the default 0.02 (about 3) a run left none one time in twenty.
      churn: 0.05,
      seed: 5,
    })

    expect(report.problems).toEqual([])
    expect(report).toMatchObject({
      lost: 0,
      duplicated: 0,
      outOfOrder: 0,
      misdelivered: 0,
      errors: 0,
    })
    expect(report.sent).toBe(150)
    expect(report.arrived).toBe(report.expected)
    // The run really exercised what it checks: deliveries were owed, members came and went, sockets dropped.
    expect(report.expected).toBeGreaterThan(500)
    expect(report.leaves).toBeGreaterThan(0)
    for (const action of ['renames', 'promotions', 'removals', 'bans'] as const) {
      expect(report[action], action).toBeGreaterThan(0)
    }
    expect(report.cuts).toBeGreaterThan(5)
    expect(report.reconnects).toBeGreaterThan(5)
    expect(report.ok).toBe(true)
    // About 10 s alone on an idle machine; beside the other test files, on a busy host, several times that.
    // `npm run load` is the full-size run (300 clients, 3,000 messages).
  }, 400_000)
})
