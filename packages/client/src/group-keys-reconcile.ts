import { fromBase64 } from './bytes.js'
import { vouches } from './devices.js'
import { ChatError } from './error.js'
import type { GroupKeysState } from './group-keys.js'
import { same } from './group-keys.js'
import type { KeysContext } from './keys-context.js'
import type { Committed, MlsEngine } from './mls.js'
import type { AckResults, RosterLeaf } from './protocol.js'

/** The group whose keys are reconciled: its state, and how it sends a commit (false: another won the epoch). */
export interface ReconcileTarget {
  readonly gid: string
  readonly state: GroupKeysState
  commit(made: Committed): Promise<boolean>
}

/** Brings a group's keys in line with its roster (see `GroupKeysSync.reconcile`); throws CONFLICT when they
 * kept changing. */
export async function reconcileKeys(target: ReconcileTarget, context: KeysContext): Promise<void> {
  const { state } = target
  const engine = await context.engineNow()
  const claimed = new Map<string, Uint8Array[]>()
  for (let attempt = 0; attempt < 8; attempt++) {
    state.dirty = false
    const roster = await context.server.roster(target.gid)
    if (!state.keys) {
      if (!(await enter(target, context, engine, roster))) return
      continue
    }
    await caughtUp(target, context, roster.epoch)
    const keys = state.keys
    if (!keys || keys.epoch !== roster.epoch) continue
    const wanted = [...roster.missing]
    // This identity's own vouched devices that hold no leaf are added by the one that does.
    if (await ownDevicesMissing(context, roster.leaves)) wanted.push(await context.identity())
    for (const iss of wanted) {
      if (!claimed.has(iss)) claimed.set(iss, await claim(target, context, engine, iss, roster.leaves))
    }
    const add = wanted.flatMap((iss) => claimed.get(iss) ?? [])
    const remove = roster.stale
    if (add.length === 0 && remove.length === 0 && !state.rotationDue(context.rotateAfterMs)) return
    if (await target.commit(await engine.commit(keys, { add, remove }))) {
      state.rotate = false
      for (const iss of wanted) claimed.delete(iss)
      if (!state.dirty) return
    }
  }
  state.dirty = true
  throw new ChatError('CONFLICT', `${target.gid}: the group's keys kept changing; try again`)
}

/** Joins the keys: the creator starts them; anyone else waits for a Welcome, then joins by itself. A
 * device no list vouches for yet waits for its approval. */
async function enter(
  target: ReconcileTarget,
  context: KeysContext,
  engine: MlsEngine,
  roster: AckResults['roster'],
): Promise<boolean> {
  if (!(await context.enroll())) return false
  const me = { iss: await context.identity(), device: await context.deviceId() }
  const signer = await context.trust.signer()
  if (roster.epoch === 0) {
    const keys = await engine.createGroup(target.gid, me, signer)
    try {
      await target.commit(await engine.commit(keys, {}))
    } catch (error) {
      // Only the creator starts the keys; anyone else waits for it.
      if (!(error instanceof ChatError && error.code === 'FORBIDDEN')) throw error
      return false
    }
    return true
  }
  if (await target.state.waitFor(() => target.state.keys !== undefined, context.welcomeWaitMs)) return true
  if (roster.info === undefined) return false
  const old = roster.leaves.find((leaf) => leaf.iss === me.iss && leaf.device === me.device)
  const info = await context.server.fetch(target.gid, roster.info)
  const made = await engine.joinExternal(info, me, signer, old?.leaf)
  const others = (await engine.leaves(made.keys)).filter((leaf) => leaf.leaf !== made.keys.leaf)
  const kept = roster.leaves.filter((leaf) => leaf.leaf !== old?.leaf)
  const reason = same(others, kept) ? await context.trust.vouched(others) : 'its tree is not the roster'
  if (reason) {
    const why =
      typeof reason === 'string' ? reason : `device ${reason.device} of ${reason.iss} is not vouched for`
    throw new ChatError('BAD_KEYS', `${target.gid}: the group info cannot be trusted: ${why}`)
  }
  await target.commit(made)
  return true
}

/** Whether a device this identity vouches for holds no leaf of the group. */
async function ownDevicesMissing(context: KeysContext, leaves: RosterLeaf[]): Promise<boolean> {
  const me = await context.identity()
  const list = await context.trust.verified(me)
  return list?.devices.some((d) => !leaves.some((l) => l.iss === me && l.device === d.device)) ?? false
}

/** Key packages of every device of `iss` holding no leaf that has one, each of a device its owner vouches
 * for; none when it has none left. */
async function claim(
  target: ReconcileTarget,
  context: KeysContext,
  engine: MlsEngine,
  iss: string,
  leaves: RosterLeaf[],
): Promise<Uint8Array[]> {
  try {
    const have = leaves.filter((leaf) => leaf.iss === iss).map((leaf) => leaf.device)
    const packages = await context.server.claim(target.gid, iss, have)
    const list = await context.trust.verified(iss, true)
    const vouched = await Promise.all(
      packages.map(async (text) => {
        const bytes = fromBase64(text)
        const read = bytes && (await engine.readKeyPackage(bytes))
        return bytes && read?.iss === iss && vouches(list, read) ? [bytes] : []
      }),
    )
    return vouched.flat()
  } catch (error) {
    // It will join the keys by itself once it has a device online.
    if (error instanceof ChatError && (error.code === 'NO_KEY_PACKAGES' || error.code === 'FORBIDDEN'))
      return []
    throw error
  }
}

/** Waits until this device's keys reach `epoch` (the commits are on their way), nudging catch-up once. */
async function caughtUp(target: ReconcileTarget, context: KeysContext, epoch: number): Promise<void> {
  const reached = () => target.state.keys === undefined || target.state.keys.epoch >= epoch
  if (await target.state.waitFor(reached, 1000)) return
  await context.catchUp().catch(() => {})
  if (!(await target.state.waitFor(reached, 10_000))) {
    throw new ChatError('TIMEOUT', `${target.gid}: the group's commits up to epoch ${epoch} did not arrive`)
  }
}
