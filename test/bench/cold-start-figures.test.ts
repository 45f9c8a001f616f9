import { describe, expect, it } from 'vitest'
import {
  type BundleFigures,
  clientSources,
  median,
  pairHandlers,
  ratio,
  summarise,
} from '../../bench/cold-start-figures.js'
import { withKey } from '../../bench/results-file.js'

const KiB = 1024
const figures = (kib: number, initMs?: number): BundleFigures => ({
  bytes: kib * KiB,
  gzipBytes: (kib * KiB) / 4,
  ...(initMs !== undefined && { initMs }),
})

describe('median', () => {
  it('takes the middle value, the lower middle for an even count, and NaN for none', () => {
    expect(median([5, 1, 3])).toBe(3)
    expect(median([4, 1, 3, 2])).toBe(2)
    expect(median([])).toBeNaN()
  })
})

describe('clientSources', () => {
  it("maps every export built from src to its source, taking node's condition for the root", () => {
    const exportsField = {
      '.': {
        browser: { types: './dist/index.d.ts', default: './dist/index.js' },
        node: { types: './dist/node.d.ts', default: './dist/node.js' },
        default: { types: './dist/index.d.ts', default: './dist/index.js' },
      },
      './protocol': { types: './dist/protocol.d.ts', default: './dist/protocol.js' },
      './mls-wire': './dist/mls-wire.js',
      './package.json': './package.json',
    }
    expect(Object.fromEntries(clientSources('@huddle/client', exportsField))).toEqual({
      '@huddle/client': 'src/node.ts',
      '@huddle/client/protocol': 'src/protocol.ts',
      '@huddle/client/mls-wire': 'src/mls-wire.ts',
    })
  })

  it('maps nothing when there are no exports', () => {
    expect(clientSources('@huddle/client', undefined).size).toBe(0)
  })
})

describe('pairHandlers', () => {
  it("pairs by name in the order of the build after, then the build before's removed handlers", () => {
    const before = new Map([
      ['gone', figures(600, 80)],
      ['message', figures(640, 90)],
    ])
    const after = new Map([
      ['message', figures(300, 40)],
      ['added', figures(100, 20)],
    ])
    expect(pairHandlers(before, after).map((h) => [h.handler, !!h.before, !!h.after])).toEqual([
      ['message', true, true],
      ['added', false, true],
      ['gone', true, false],
    ])
  })
})

describe('summarise', () => {
  it('passes when every bundle after is at most 400 KiB and the slowest init at most 60 ms', () => {
    const summary = summarise([
      { handler: 'message', before: figures(640, 95), after: figures(400, 60) },
      { handler: 'connect', before: figures(630, 70), after: figures(120, 30) },
    ])
    expect(summary).toMatchObject({
      largestBundleKiB: {
        before: { handler: 'message', value: 640 },
        after: { handler: 'message', value: 400 },
      },
      slowestInitMs: { before: { handler: 'message', value: 95 }, after: { handler: 'message', value: 60 } },
      bundlesOverTarget: [],
      unmeasured: [],
      pass: true,
    })
  })

  it('fails on one bundle over 400 KiB, one init over 60 ms, or one handler not measured', () => {
    const fine = { handler: 'connect', after: figures(120, 30) }
    const bigger = summarise([
      fine,
      { handler: 'commit', after: { ...figures(400, 30), bytes: 400 * KiB + 1 } },
    ])
    expect(bigger).toMatchObject({ bundlesOverTarget: ['commit'], pass: false })
    expect(summarise([fine, { handler: 'commit', after: figures(200, 60.1) }]).pass).toBe(false)
    const broken = summarise([fine, { handler: 'commit', after: { error: 'did not bundle: x' } }])
    expect(broken).toMatchObject({ unmeasured: ['commit'], pass: false })
  })

  it('ignores the build before when judging, and fails a run with nothing after', () => {
    expect(summarise([{ handler: 'gone', before: figures(900, 500) }]).pass).toBe(false)
    const summary = summarise([
      { handler: 'gone', before: figures(900, 500) },
      { handler: 'connect', after: figures(100, 20) },
    ])
    expect(summary.pass).toBe(true)
  })
})

describe('ratio', () => {
  it('divides after by before, and says nothing when a side is missing or zero', () => {
    expect(ratio(640, 320)).toBe('0.50×')
    expect(ratio(undefined, 320)).toBe('')
    expect(ratio(0, 320)).toBe('')
  })
})

describe('withKey', () => {
  it("sets one key and keeps the other benches' keys", () => {
    const file = { fanOut: [1], encrypted: { groups: [] }, coldStart: [{ handler: 'old' }] }
    expect(withKey(file, 'coldStart', { runs: 7 })).toEqual({
      fanOut: [1],
      encrypted: { groups: [] },
      coldStart: { runs: 7 },
    })
  })

  it('starts afresh from a file that is missing or not an object', () => {
    expect(withKey(undefined, 'coldStart', 1)).toEqual({ coldStart: 1 })
    expect(withKey([1, 2], 'coldStart', 1)).toEqual({ coldStart: 1 })
  })
})
