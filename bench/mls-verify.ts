import { makeNobleSignatureImpl } from 'ts-mls/crypto/implementation/default/makeNobleSignatureImpl.js'
import { rosterDigest, vouches } from '../packages/client/src/devices.js'
import { mlsEngine } from '../packages/client/src/mls.js'
import {
  readVerifiedGroupInfo,
  type VerifiedGroupInfo,
  verifyCommit,
} from '../packages/client/src/mls-verify.js'
import { saveResults } from './results-file.js'
import { announceMachine, printTable, quantile, round } from './stats.js'

// What the checks of a commit cost, at 10 and 100 members. The server's public checks
// (packages/client/src/mls-verify.ts): reading and verifying the GroupInfo of the new epoch, then the commit
// against it and the GroupInfo before it. A member's own checks after processing it (encryption.ts): its whole
// tree's digest against the roster's, and every leaf against its owner's device list.
// Run: npx tsx bench/mls-verify.ts [--quick]

const quick = process.argv.includes('--quick')
const groupSizes = [10, 100]
/** Measured runs per case, after one unmeasured. */
const runs = quick ? 3 : 7
const engine = mlsEngine()

/** A group of `members`: one commit added everyone; bob (leaf 1) joined from the Welcome. */
async function groupOf(members: number) {
  const ed25519 = await makeNobleSignatureImpl('Ed25519')
  const creator = await engine.createGroup(
    `bench-${members}`,
    { iss: 'alice', device: 'd' },
    await ed25519.keygen(),
  )
  const packages = await Promise.all(
    Array.from({ length: members - 1 }, async (_, i) =>
      engine.makeKeyPackage({ iss: `member${i + 1}`, device: 'd' }, await ed25519.keygen()),
    ),
  )
  const adds = await engine.commit(creator, { add: packages.map((made) => made.package) })
  const [bob] = packages
  if (adds.welcome === undefined || bob === undefined) throw new Error('no welcome')
  const info = await readVerifiedGroupInfo(adds.info)
  if (info === undefined) throw new Error('the GroupInfo does not verify')
  return { alice: adds.keys, bob: await engine.joinFromWelcome(adds.welcome, bob.secret), info, ed25519 }
}

type Case = { name: string; make: () => Promise<{ commit: Uint8Array; info: Uint8Array }> }

/** Milliseconds to read `after` and to verify the commit, per run. */
async function measure(made: { commit: Uint8Array; info: Uint8Array }, before: VerifiedGroupInfo) {
  const start = performance.now()
  const after = await readVerifiedGroupInfo(made.info)
  const read = performance.now()
  if (after === undefined) throw new Error('the GroupInfo does not verify')
  const verdict = await verifyCommit(made.commit, before, after)
  const end = performance.now()
  if (!verdict.ok) throw new Error(`the commit does not verify: ${verdict.reason}`)
  return { info: read - start, commit: end - read, total: end - start }
}

const machine = await announceMachine()
const ranAt = new Date().toISOString()
const commits: {
  members: number
  commit: string
  bytes: number
  groupInfoMs: number
  commitMs: number
  totalMs: number
}[] = []
const memberChecks: { members: number; ms: number }[] = []
for (const members of groupSizes) {
  const { alice, bob, info, ed25519 } = await groupOf(members)
  const cases: Case[] = [
    { name: 'key update (path)', make: () => engine.commit(bob, {}) },
    {
      name: 'add one member',
      make: async () =>
        engine.commit(alice, {
          add: [
            (await engine.makeKeyPackage({ iss: 'newcomer', device: 'd' }, await ed25519.keygen())).package,
          ],
        }),
    },
    { name: 'remove one member (path)', make: () => engine.commit(alice, { remove: [members - 1] }) },
  ]
  for (const { name, make } of cases) {
    const times: { info: number; commit: number; total: number }[] = []
    let bytes = 0
    for (let run = 0; run <= runs; run += 1) {
      const made = await make()
      bytes = made.commit.length + made.info.length
      const time = await measure(made, info)
      if (run > 0) times.push(time)
    }
    const p50 = (pick: (t: { info: number; commit: number; total: number }) => number) =>
      round(quantile(times.map(pick), 0.5), 1)
    commits.push({
      members,
      commit: name,
      bytes,
      groupInfoMs: p50((t) => t.info),
      commitMs: p50((t) => t.commit),
      totalMs: p50((t) => t.total),
    })
  }
  // A member's checks: the tree after a commit, hashed and compared, and each leaf looked up on its list.
  const leaves = await engine.leaves(alice)
  const lists = new Map(
    leaves.map((leaf) => [
      leaf.iss,
      { iss: leaf.iss, version: 1, devices: [leaf], signer: '', signature: '' },
    ]),
  )
  const expected = await rosterDigest(leaves)
  const times: number[] = []
  for (let run = 0; run <= runs; run += 1) {
    const start = performance.now()
    const same = (await rosterDigest(await engine.leaves(alice))) === expected
    if (!same || !leaves.every((leaf) => vouches(lists.get(leaf.iss), leaf))) throw new Error('checks fail')
    if (run > 0) times.push(performance.now() - start)
  }
  memberChecks.push({ members, ms: round(quantile(times, 0.5), 2) })
}
console.log(`\nthe server verifying a commit and the GroupInfo after it (p50 of ${runs} runs, ms)`)
printTable(
  ['members', 'commit', 'bytes (commit+info)', 'GroupInfo', 'commit', 'total'],
  commits.map((c) => [c.members, c.commit, c.bytes, c.groupInfoMs, c.commitMs, c.totalMs]),
)
console.log(`\na member checking the tree a commit made against the roster and device lists (p50, ms)`)
printTable(
  ['members', 'tree checks'],
  memberChecks.map((c) => [c.members, c.ms]),
)
// A quick run is not a baseline to compare later runs with.
if (!quick) await saveResults('mlsVerify', { ranAt, machine, commits, memberChecks })
