import { makeNobleSignatureImpl } from 'ts-mls/crypto/implementation/default/makeNobleSignatureImpl.js'
import { mlsEngine } from '../packages/client/src/mls.js'
import {
  readVerifiedGroupInfo,
  type VerifiedGroupInfo,
  verifyCommit,
} from '../packages/client/src/mls-verify.js'
import { announceMachine, printTable, quantile, round } from './stats.js'

// What the server's public checks of a commit cost (packages/client/src/mls-verify.ts): reading and verifying the
// GroupInfo of the new epoch, then the commit against it and the GroupInfo before it, at 10 and 100 members.
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

await announceMachine()
const rows: (string | number)[][] = []
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
    rows.push([members, name, bytes, p50((t) => t.info), p50((t) => t.commit), p50((t) => t.total)])
  }
}
console.log(`\nverifying a commit and the GroupInfo after it (p50 of ${runs} runs, ms)`)
printTable(['members', 'commit', 'bytes (commit+info)', 'GroupInfo', 'commit', 'total'], rows)
