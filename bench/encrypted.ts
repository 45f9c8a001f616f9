import { randomBytes, randomUUID } from 'node:crypto'
import { firstDeviceList, rosterDigest } from '@huddle/client/devices'
import { type Committed, type GroupKeys, mlsEngine, type Signer } from '@huddle/client/mls'
import type { DeviceName } from '@huddle/client/mls-wire'
import { type CommitEvent, limits, type MessageEvent, type MlsBytes } from '@huddle/client/protocol'
import type { RateLimit } from '../lambdas/core/ports.js'
import type { RateBucket } from '../lambdas/core/rate-limits.js'
import type { Request } from '../packages/client/src/connection.js'
import { memoryEncryptionStore } from '../packages/client/src/encryption-store.js'
import { GroupKeysState, type KeysToSave, sealedOf } from '../packages/client/src/group-keys.js'
import { KeyPersistence } from '../packages/client/src/key-persistence.js'
import { type KeyServer, keyServer } from '../packages/client/src/key-server.js'
import { readResults, saveResults } from './results-file.js'
import { startStackProcess } from './stack-process.js'
import {
  addFigures,
  announceMachine,
  type Machine,
  printMoved,
  printTable,
  quantile,
  round,
} from './stats.js'
import { BenchClient, mapLimited, type PushedFrame } from './ws-client.js'

// What end-to-end encryption (MLS) adds: per message, the engine's work and the bytes on the wire; per new
// member, the time to add it to a group's keys, through the local stack, and the engine's share of it.

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const quick = process.argv.includes('--quick')
/** Members of each encrypted group measured. */
const groupSizes = [10, 100]
/** Messages encrypted and decrypted per group, after a few unmeasured ones. */
const messages = { measured: quick ? 50 : 300, warmup: 20 }
/** Members added one at a time, each measured (the group grows by one each time). */
const adds = quick ? 2 : 5
/** A group of 10 that goes through every step first, unmeasured: the stack's functions (each in a worker
 * thread of its own) and DynamoDB Local (Java) are slow on their first calls. */
/**
 * Members one commit adds while building a group: its transaction holds one claim per added key package beside
 * the log, group and roster items, and DynamoDB takes at most 100 items in one transaction.
 */
const addsPerCommit = 50
const warmupGroup = { members: 10, messages: 50, adds: 3 }
const body = 'x'.repeat(100)
/** How long a pushed event may take to arrive before the run gives up. */
const eventTimeoutMs = 30_000
/** Many requests from few identities, far faster than the deployed limits allow. */
const unlimited: Record<RateBucket, RateLimit> = {
  messages: { perSecond: 1_000_000, burst: 1_000_000 },
  writes: { perSecond: 1_000_000, burst: 1_000_000 },
}
const engine = mlsEngine()
const utf8 = new TextEncoder()
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')
const bytesOf = (text: string) => Buffer.byteLength(text, 'utf8')

type P = { p50: number; p99: number }
type Part = 'commit' | 'welcome' | 'info'

/** The figures of one group size. */
interface EncryptedGroupResult {
  members: number
  perMessage: {
    messages: number
    /** The SDK's sealed payload, JSON {jti, body}, in UTF-8. */
    sealedBytes: number
    /** The MLS PrivateMessage, and its base64 in the frame. */
    cipherBytes: number
    cipherChars: number
    /** The state machine's seal and open (the engine's encrypt and decrypt). */
    encryptMs: P
    decryptMs: P
    /** KeyPersistence.saveGroup after every seal and open: the ratchet steps the message took. */
    saveMs: P
    /** What that save writes. */
    savedBytes: number
    /** The whole state saved (`engine.save`), as every message did before states were saved by what changed. */
    wholeSaveMs: P
    stateBytes: number
    /** The `message` request frame as the SDK builds it. */
    frameBytes: { plain: number; encrypted: number; ratio: number }
    /** The `chat.message` event as posted to each member. */
    eventBytes: { plain: number; encrypted: number; ratio: number }
  }
  /** The group's keys made: the creator's device adding every other member, `addsPerCommit` to a commit
   * (the time to make them all; the bytes of the first, the largest). */
  build: { addAllMs: number; commitBytes: number; welcomeBytes: number; infoBytes: number; joinMs: number }
  addMember: {
    adds: number
    /** Leaves the group's keys held before the first add and after the last. */
    leavesBefore: number
    leavesAfter: number
    /** Medians, through the local stack. */
    stackMs: {
      claim: number
      upload: number
      commitAck: number
      adder: number
      delivered: number
      welcomeFetch: number
      rosterCheck: number
      endToEnd: number
    }
    /** Medians, the engine alone. */
    engineMs: { commit: number; join: number; process: number }
    /** The first add's parts, and whether each went through storage (over the inline budget). */
    bytes: Record<Part, number>
    uploaded: Part[]
  }
}

interface EncryptedResults {
  ranAt: string
  machine: Machine
  groups: EncryptedGroupResult[]
}

/** One identity's one device, with its connection and the key-package secrets it keeps. */
interface Device {
  client: BenchClient
  inbox: Inbox
  name: DeviceName
  signer: Signer
  secrets: Map<string, Uint8Array>
  /** The SDK's server port over `client`. */
  server: KeyServer
  timing: { commitSentAt: number }
}

/** Pushed events a step waits for: it asks before the request that causes them. */
class Inbox {
  private readonly waiters = new Set<{
    match: (frame: PushedFrame) => boolean
    found: (frame: PushedFrame, at: number) => void
  }>()

  constructor(client: BenchClient) {
    client.onEvent = (frame) => {
      const at = performance.now()
      for (const waiter of this.waiters) {
        if (!waiter.match(frame)) continue
        this.waiters.delete(waiter)
        waiter.found(frame, at)
      }
    }
  }

  /** The next event `match` accepts, and when it arrived (performance.now()). */
  next<T>(match: (frame: PushedFrame) => boolean, what: string): Promise<{ frame: T; at: number }> {
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        found: (frame: PushedFrame, at: number) => {
          clearTimeout(timer)
          resolve({ frame: frame as unknown as T, at })
        },
      }
      const timer = setTimeout(() => {
        this.waiters.delete(waiter)
        reject(new Error(`${what} did not arrive in ${eventTimeoutMs / 1000} s`))
      }, eventTimeoutMs)
      this.waiters.add(waiter)
    })
  }

  commit(gid: string, epoch: number) {
    return this.next<CommitEvent>(
      (f) => f.type === 'chat.commit' && f.gid === gid && f.epoch === epoch,
      `${gid}'s chat.commit to epoch ${epoch}`,
    )
  }
}

async function main(): Promise<void> {
  const machine = await announceMachine()
  const runId = randomBytes(3).toString('hex')
  const started = Date.now()
  console.log('encrypted groups: starting the local stack in a process of its own…')
  const stack = await startStackProcess({ port: 0, rateLimits: unlimited })
  const problems: string[] = []
  const groups: EncryptedGroupResult[] = []
  try {
    console.log(
      `warming up: an encrypted group of ${warmupGroup.members} through every step, ${warmupGroup.adds} adds, unmeasured…`,
    )
    const warm = await buildGroup(
      stack.url,
      `bench-${runId}-w`,
      warmupGroup.members,
      warmupGroup.adds,
      problems,
    )
    await measureMessages(warm, warmupGroup.messages, problems)
    await measureAdds(warm, problems)
    for (const members of groupSizes) {
      console.log(
        `encrypted group of ${members}: building it (invites, joins, key packages, the creator's commits)…`,
      )
      const group = await buildGroup(stack.url, `bench-${runId}-e${members}`, members, adds, problems)
      console.log(
        `encrypted group of ${members}: ${messages.measured} messages through the engine, one through the stack, ` +
          `then ${adds} members added one at a time…`,
      )
      const perMessage = await measureMessages(group, messages.measured, problems)
      const addMember = await measureAdds(group, problems)
      groups.push({ members, perMessage, build: group.build, addMember })
    }
  } finally {
    await stack.stop()
  }
  const results: EncryptedResults = { ranAt: new Date().toISOString(), machine, groups }
  report(results)
  const previous = await readPrevious()
  if (previous) printMoved(figures(previous), figures(results), previous.ranAt)
  // A quick run or one with problems is not a baseline to compare later runs with.
  if (!quick && problems.length === 0) await saveResults('encrypted', results)
  console.log(`whole run: ${round((Date.now() - started) / 1000, 1)} s`)
  if (problems.length > 0) {
    console.error(`\n${problems.length} problem(s):\n${problems.slice(0, 20).join('\n')}`)
    process.exitCode = 1
  }
}

/** A member's keys of the group, as the SDK holds them: the state machine, saved through its persistence. */
interface Holder {
  gid: string
  state: GroupKeysState
  saved: KeyPersistence
  /** Bytes the store was last asked to keep (what a save wrote). */
  written: { bytes: number }
}

/** A member's keys, kept in a memory store whose writes are counted. */
function holder(gid: string): Holder {
  const store = memoryEncryptionStore()
  const written = { bytes: 0 }
  const counted = {
    ...store,
    async set(name: string, value: Uint8Array) {
      written.bytes = value.byteLength
      await store.set(name, value)
    },
  }
  return {
    gid,
    state: new GroupKeysState(gid),
    saved: new KeyPersistence(counted, async () => engine),
    written,
  }
}

/** Saves what a change of the keys left, as the SDK does before it sends anything the change encrypted. */
async function keep(holds: Holder, save: KeysToSave | undefined): Promise<void> {
  if (save === undefined) return
  if (save.previous) await holds.saved.savePrevious(holds.gid, save.previous)
  await holds.saved.saveGroup(holds.gid, save.keys)
}

/** The SDK's server port over a bench connection; `timing` notes when each commit frame leaves, after its uploads. */
function portOf(client: BenchClient, timing: { commitSentAt: number }): KeyServer {
  const request = async (action: string, fields: Record<string, unknown>) => {
    if (action !== 'commit') return client.ok(action, fields)
    const reply = await client.request(action, fields, () => {
      timing.commitSentAt = performance.now()
    })
    if (reply.type !== 'ack') throw new Error(`${client.iss} commit failed: ${JSON.stringify(reply)}`)
    return reply
  }
  return keyServer(request as unknown as Request)
}

interface BuiltGroup {
  gid: string
  members: number
  creator: Device
  /** A member who joined the keys from the creator's Welcome: it decrypts and processes commits. */
  existing: Device
  /** Joined members with a key package published, added to the keys one at a time. */
  joiners: Device[]
  creatorHolds: Holder
  existingHolds: Holder
  build: EncryptedGroupResult['build']
}

/**
 * An encrypted group of `members` whose keys every member holds a leaf of, made over raw connections and the
 * SDK's server port: each member's device publishes a key package; the creator invites them all and they
 * join; the creator's device starts the keys (epoch 0, a commit with a path, as the SDK does) and then adds
 * every other member, `addsPerCommit` to a commit. The joiners to be added later join the group too, and publish a key
 * package each.
 */
async function buildGroup(
  url: string,
  gid: string,
  members: number,
  joining: number,
  problems: string[],
): Promise<BuiltGroup> {
  const names = Array.from({ length: members + joining }, (_, i) =>
    i < members ? `${gid}-m${String(i).padStart(3, '0')}` : `${gid}-j${i - members}`,
  )
  const devices = await mapLimited(names, 16, async (iss): Promise<Device> => {
    const client = await BenchClient.connect(url, iss)
    // A device id as the SDK makes one (12 random bytes, base64url), on its identity's device list.
    const name = { iss, device: randomBytes(12).toString('base64url') }
    const signer = await engine.newSigner()
    const sign = (message: Uint8Array) => engine.sign(signer.signKey, message)
    await client.ok('vouch', { list: await firstDeviceList(iss, name.device, signer.publicKey, sign) })
    const timing = { commitSentAt: 0 }
    const server = portOf(client, timing)
    return { client, inbox: new Inbox(client), name, signer, secrets: new Map(), server, timing }
  })
  const [creator, existing] = devices
  if (creator === undefined || existing === undefined) throw new Error('a group needs two members')
  const others = devices.slice(1)
  const holders = devices.slice(1, members)
  const joiners = devices.slice(members)

  await mapLimited(others, 4, async (device) => {
    const made = await engine.makeKeyPackage(device.name, device.signer)
    device.secrets.set(made.ref, made.secret)
    await device.server.publish(device.name.device, [b64(made.package)])
  })
  for (let i = 0; i < others.length; i += limits.membersPerInvite) {
    await creator.client.ok('invite', {
      gid,
      name: `Encrypted ${members}`,
      members: others.slice(i, i + limits.membersPerInvite).map((d) => d.name.iss),
      ...(i === 0 && { encrypted: true }),
    })
  }
  await mapLimited(others, 8, (device) => device.client.ok('join', { gid }))

  // The creator starts the keys (epoch 0 → 1), then adds every other member, one epoch per commit.
  const creatorHolds = holder(gid)
  const started = await engine.commit(await engine.createGroup(gid, creator.name, creator.signer), {})
  await creator.server.commit(gid, started)
  await keep(creatorHolds, creatorHolds.state.adopt(started.keys, true))
  // The first commit adds the existing member with as many others as one commit may add; later ones the rest.
  const batches = Array.from({ length: Math.ceil(holders.length / addsPerCommit) }, (_, i) =>
    holders.slice(i * addsPerCommit, (i + 1) * addsPerCommit),
  )
  let addAllMs = 0
  let joinMs = 0
  let first: Committed | undefined
  let existingHolds: Holder | undefined
  for (const batch of batches) {
    const claimed = await mapLimited(batch, 8, async (device) => claim(creator, gid, device.name.iss))
    const addAt = performance.now()
    const made = await engine.commit(requireKeys(creatorHolds), { add: claimed.flat() })
    addAllMs += performance.now() - addAt
    first ??= made
    const arrived = existing.inbox.commit(gid, made.keys.epoch)
    await creator.server.commit(gid, made)
    await keep(creatorHolds, creatorHolds.state.adopt(made.keys, true))
    const { frame: event } = await arrived
    if (existingHolds === undefined) {
      const welcome = await existing.server.fetch(gid, requirePart(event.welcome))
      const joinAt = performance.now()
      const joined = await joinFromWelcome(existing, welcome)
      joinMs = performance.now() - joinAt
      existingHolds = holder(gid)
      await keep(existingHolds, existingHolds.state.adopt(joined))
    } else {
      const commit = await existing.server.fetch(gid, event.commit)
      const outcome = await existingHolds.state.processCommit(engine, event, commit)
      if (outcome.kind === 'verify') await keep(existingHolds, existingHolds.state.adopt(outcome.next, true))
      else problems.push(`${gid}: a commit of the build was taken as ${JSON.stringify(outcome)}`)
    }
  }
  if (first === undefined || existingHolds === undefined) throw new Error(`${gid}: the build added no one`)
  const existingKeys = requireKeys(existingHolds)
  if (!(await rosterHolds(existing, gid, existingKeys))) {
    problems.push(`${gid}: the existing member's keys differ from the server's roster after the build`)
  }
  if (existingKeys.epoch !== 1 + batches.length || requireKeys(creatorHolds).epoch !== existingKeys.epoch)
    problems.push(`${gid}: not at epoch ${1 + batches.length} after building`)
  return {
    gid,
    members,
    creator,
    existing,
    joiners,
    creatorHolds,
    existingHolds,
    build: {
      addAllMs: round(addAllMs, 1),
      commitBytes: first.commit.byteLength,
      welcomeBytes: first.welcome?.byteLength ?? 0,
      infoBytes: first.info.byteLength,
      joinMs: round(joinMs, 1),
    },
  }
}

/** A `chat.message` of `from` carrying `cipher`, as another member's state machine takes it in. */
function messageOf(gid: string, from: Device, jti: string, cipher: Uint8Array): MessageEvent {
  return {
    type: 'chat.message',
    gid,
    iss: from.name.iss,
    jti,
    body: '',
    cipher: b64(cipher),
    seq: 0,
    iat: '',
  }
}

/**
 * Per message, through the SDK's state machine and persistence, no stack: the creator's device seals the
 * SDK's payload and saves what changed, and another member's opens it and saves what changed. Beside it,
 * the whole state saved (what every message wrote before states were saved by what changed). Then one
 * message through the stack, whose frame and event are measured in bytes against the same body sent in a
 * plain group.
 */
async function measureMessages(
  group: BuiltGroup,
  count: number,
  problems: string[],
): Promise<EncryptedGroupResult['perMessage']> {
  const { gid, creator, existing, creatorHolds: sender, existingHolds: receiver } = group
  const encryptMs: number[] = []
  const decryptMs: number[] = []
  const saveMs: number[] = []
  const wholeSaveMs: number[] = []
  let stateBytes = 0
  let savedBytes = 0
  let sealedBytes = 0
  let cipherBytes = 0
  for (let i = 0; i < messages.warmup + count; i++) {
    const measured = i >= messages.warmup
    const jti = randomUUID()
    const sealed = sealedOf(jti, body, undefined)
    const encryptAt = performance.now()
    const made = await sender.state.seal(engine, sealed)
    const encrypted = performance.now()
    const whole = made.save && (await engine.save(made.save.keys))
    const savedWhole = performance.now()
    await keep(sender, made.save)
    const saved = performance.now()
    const written = sender.written.bytes
    const opened = await receiver.state.open(engine, messageOf(gid, creator, jti, made.cipher))
    const decrypted = performance.now()
    await keep(receiver, opened?.save)
    const savedToo = performance.now()
    if (opened?.sealed?.body !== body || opened.sealed.jti !== jti) {
      problems.push(`${gid}: message ${i} decrypted to something else`)
    }
    if (!measured) continue
    encryptMs.push(encrypted - encryptAt)
    decryptMs.push(decrypted - saved)
    saveMs.push(saved - savedWhole, savedToo - decrypted)
    wholeSaveMs.push(savedWhole - encrypted)
    stateBytes = whole?.byteLength ?? 0
    savedBytes = written
    sealedBytes = utf8.encode(JSON.stringify(sealed)).byteLength
    cipherBytes = made.cipher.byteLength
  }

  // The same 100-byte body as the SDK writes it: a plain group's frame, and an encrypted group's (#sendNow).
  const jti = randomUUID()
  const plainFrame = JSON.stringify({ gid, body, jti, action: 'message', id: randomUUID() })
  const sealed = await sender.state.seal(engine, sealedOf(jti, body, undefined))
  await keep(sender, sealed.save)
  const fields = { gid, jti, body: '', cipher: b64(sealed.cipher) }
  const encryptedFrame = JSON.stringify({ ...fields, action: 'message', id: randomUUID() })
  const arrived = existing.inbox.next<MessageEvent>(
    (f) => f.type === 'chat.message' && f.jti === jti,
    `${gid}'s encrypted message`,
  )
  await creator.client.ok('message', fields)
  const { frame: event } = await arrived
  // Posted as the server serialized it: parsing and serializing again gives the same bytes.
  const encryptedEvent = JSON.stringify(event)
  // A plain group's event is the same one with the body in it and no cipher (conversation.ts).
  const { cipher, ...rest } = event
  const plainEvent = JSON.stringify({ ...rest, body })
  const opened = await receiver.state.open(engine, event)
  await keep(receiver, opened?.save)
  if (opened?.sealed?.jti !== jti) {
    problems.push(`${gid}: the message sent through the stack decrypted to another`)
  }

  const ms = (values: number[], digits = 2): P => ({
    p50: round(quantile(values, 0.5), digits),
    p99: round(quantile(values, 0.99), digits),
  })
  const pair = (plain: string, encrypted: string) => ({
    plain: bytesOf(plain),
    encrypted: bytesOf(encrypted),
    ratio: round(bytesOf(encrypted) / bytesOf(plain), 2),
  })
  return {
    messages: count,
    sealedBytes,
    cipherBytes,
    cipherChars: fields.cipher.length,
    encryptMs: ms(encryptMs),
    decryptMs: ms(decryptMs),
    saveMs: ms(saveMs, 3),
    savedBytes,
    wholeSaveMs: ms(wholeSaveMs),
    stateBytes,
    frameBytes: pair(plainFrame, encryptedFrame),
    eventBytes: pair(plainEvent, encryptedEvent),
  }
}

/**
 * Adds the joiners one at a time, as the SDK's reconcile does: the creator claims the joiner's key package
 * and makes the commit, which the server port sends (parts over the inline budget uploaded first) until the
 * ack. Then the joiner fetches the Welcome from its `chat.commit`, joins from it and checks the keys against
 * `roster`; last, the existing member's state machine takes the commit in. Each side's work starts after the
 * one before ends, so that they never share this process's CPU; on devices of their own, the joiner starts as
 * soon as its `chat.commit` arrives (the server posts it before it answers the commit).
 */
async function measureAdds(
  group: BuiltGroup,
  problems: string[],
): Promise<EncryptedGroupResult['addMember']> {
  const { gid, creator, existing, creatorHolds, existingHolds } = group
  const steps = {
    claim: [] as number[],
    commit: [] as number[],
    upload: [] as number[],
    commitAck: [] as number[],
    adder: [] as number[],
    delivered: [] as number[],
    welcomeFetch: [] as number[],
    join: [] as number[],
    rosterCheck: [] as number[],
    endToEnd: [] as number[],
    process: [] as number[],
  }
  let bytes: Record<Part, number> | undefined
  let uploaded: Part[] | undefined
  const leavesBefore = (await engine.leaves(requireKeys(creatorHolds))).length
  for (const joiner of group.joiners) {
    const epoch = requireKeys(creatorHolds).epoch + 1
    const started = performance.now()
    const add = await claim(creator, gid, joiner.name.iss)
    const claimed = performance.now()
    const made = await engine.commit(requireKeys(creatorHolds), { add, remove: [] })
    const committed = performance.now()
    const joinerGets = joiner.inbox.commit(gid, epoch)
    const existingGets = existing.inbox.commit(gid, epoch)
    await creator.server.commit(gid, made)
    const acked = performance.now()
    const sentAt = creator.timing.commitSentAt
    await keep(creatorHolds, creatorHolds.state.adopt(made.keys, true))

    const { frame: event, at: arrivedAt } = await joinerGets
    const fetchAt = performance.now()
    const welcome = await joiner.server.fetch(gid, requirePart(event.welcome))
    const fetched = performance.now()
    const keys = await joinFromWelcome(joiner, welcome)
    const joined = performance.now()
    const holds = await rosterHolds(joiner, gid, keys)
    const checked = performance.now()
    if (!holds) problems.push(`${gid}: ${joiner.name.iss}'s keys differ from the server's roster`)
    if (keys.epoch !== epoch)
      problems.push(`${gid}: ${joiner.name.iss} joined at epoch ${keys.epoch}, not ${epoch}`)

    const { frame: seen } = await existingGets
    const commit = await existing.server.fetch(gid, seen.commit)
    const processAt = performance.now()
    // Processed, and checked against the server's account (added leaves, the roster's digest) as the SDK does.
    const outcome = await existingHolds.state.processCommit(engine, seen, commit)
    steps.process.push(performance.now() - processAt)
    if (outcome.kind === 'verify') await keep(existingHolds, existingHolds.state.adopt(outcome.next, true))
    else problems.push(`${gid}: the commit adding ${joiner.name.iss} was taken as ${JSON.stringify(outcome)}`)

    steps.claim.push(claimed - started)
    steps.commit.push(committed - claimed)
    steps.upload.push(sentAt - committed)
    steps.commitAck.push(acked - sentAt)
    steps.adder.push(acked - started)
    steps.delivered.push(arrivedAt - sentAt)
    steps.welcomeFetch.push(fetched - fetchAt)
    steps.join.push(joined - fetched)
    steps.rosterCheck.push(checked - joined)
    steps.endToEnd.push(acked - started + (checked - fetchAt))
    bytes ??= {
      commit: made.commit.byteLength,
      welcome: made.welcome?.byteLength ?? 0,
      info: made.info.byteLength,
    }
    // The event carries each part as the port placed it: inline data, or the key of an upload.
    uploaded ??= (['commit', 'welcome', 'info'] as const).filter((p) => {
      const part: MlsBytes | undefined = seen[p]
      return part !== undefined && 'key' in part
    })
  }
  const median = (values: number[]) => round(quantile(values, 0.5), 1)
  return {
    adds: group.joiners.length,
    leavesBefore,
    leavesAfter: (await engine.leaves(requireKeys(creatorHolds))).length,
    stackMs: {
      claim: median(steps.claim),
      upload: median(steps.upload),
      commitAck: median(steps.commitAck),
      adder: median(steps.adder),
      delivered: median(steps.delivered),
      welcomeFetch: median(steps.welcomeFetch),
      rosterCheck: median(steps.rosterCheck),
      endToEnd: median(steps.endToEnd),
    },
    engineMs: { commit: median(steps.commit), join: median(steps.join), process: median(steps.process) },
    bytes: bytes ?? { commit: 0, welcome: 0, info: 0 },
    uploaded: uploaded ?? [],
  }
}

/** One key package of each device of `iss`, claimed through the server port as the SDK's reconcile does. */
async function claim(device: Device, gid: string, iss: string): Promise<Uint8Array[]> {
  const packages = await device.server.claim(gid, iss, [])
  return packages.map((text) => new Uint8Array(Buffer.from(text, 'base64')))
}

function requireKeys(holds: Holder): GroupKeys {
  if (holds.state.keys === undefined) throw new Error(`${holds.gid}: a member holds no keys`)
  return holds.state.keys
}

function requirePart(part: MlsBytes | undefined): MlsBytes {
  if (part === undefined) throw new Error('a commit that adds carries no Welcome')
  return part
}

/** Joins from a Welcome with the secret of the key package it was made to, as the SDK's `#welcome` does. */
async function joinFromWelcome(device: Device, welcome: Uint8Array): Promise<GroupKeys> {
  for (const ref of await engine.welcomeRefs(welcome)) {
    const secret = device.secrets.get(ref)
    if (secret === undefined) continue
    device.secrets.delete(ref)
    return engine.joinFromWelcome(welcome, secret)
  }
  throw new Error(`${device.name.iss}: the Welcome is made to none of its key packages`)
}

/** The keys' leaves are the roster the server vouches for, leaf by leaf (the SDK's check at a join). */
async function rosterHolds(device: Device, gid: string, keys: GroupKeys): Promise<boolean> {
  const roster = await device.server.roster(gid)
  const leaves = await engine.leaves(keys)
  return roster.epoch === keys.epoch && (await rosterDigest(leaves)) === (await rosterDigest(roster.leaves))
}

function report({ groups }: EncryptedResults): void {
  const sizes = groups.map((g) => `${g.members} members`)
  const first = groups[0]
  if (first === undefined) return
  const pm = (g: EncryptedGroupResult) => g.perMessage
  const pair = ({ p50, p99 }: P) => `${p50} / ${p99}`

  console.log(
    `\nper message, in this process (no stack): the SDK's sealed payload ` +
      `(JSON {jti, body}, a ${body.length}-byte body: ${first.perMessage.sealedBytes} bytes) encrypted by the ` +
      `creator's device and decrypted by another member's, ${first.perMessage.messages} messages after ` +
      `${messages.warmup} unmeasured, through the SDK's state machine (seal, open) and persistence (memory ` +
      'store); "save" is what each message saves now, its ratchet steps (KeyPersistence.saveGroup); ' +
      '"whole state" is what every message saved before (engine.save of the whole state)\n',
  )
  printTable(
    [
      'members',
      'cipher B (base64 chars)',
      'encrypt p50 / p99 ms',
      'decrypt p50 / p99 ms',
      'save p50 / p99 ms',
      'saved per message B',
      'whole state save p50 / p99 ms',
      'whole state KiB',
    ],
    groups.map((g) => [
      g.members,
      `${pm(g).cipherBytes} (${pm(g).cipherChars})`,
      pair(pm(g).encryptMs),
      pair(pm(g).decryptMs),
      pair(pm(g).saveMs),
      pm(g).savedBytes,
      pair(pm(g).wholeSaveMs),
      round(pm(g).stateBytes / 1024, 1),
    ]),
  )

  console.log(
    `\nbytes on the wire per message, the same ${body.length}-byte body: the \`message\` request frame as the SDK ` +
      'builds it (plain: {gid, body, jti}; encrypted: {gid, jti, body: "", cipher}; with action and id); the ' +
      '`chat.message` event as a member received it through the stack (plain: the same event with the body ' +
      'and no cipher, as the server builds it)\n',
  )
  printTable(
    ['members', 'frame plain B', 'frame encrypted B', '×', 'event plain B', 'event encrypted B', '×'],
    groups.map((g) => [
      g.members,
      pm(g).frameBytes.plain,
      pm(g).frameBytes.encrypted,
      pm(g).frameBytes.ratio,
      pm(g).eventBytes.plain,
      pm(g).eventBytes.encrypted,
      pm(g).eventBytes.ratio,
    ]),
  )

  console.log(
    `\nbuilding each group (not part of the figures above or below): the creator's device adds every other ` +
      `member, ${addsPerCommit} to a commit (engine; the bytes of the first), and one member joins from its ` +
      'Welcome (engine)\n',
  )
  printTable(
    ['members', 'make the commit ms', 'commit B', 'Welcome B', 'group info B', 'join from the Welcome ms'],
    groups.map((g) => [
      g.members,
      g.build.addAllMs,
      g.build.commitBytes,
      g.build.welcomeBytes,
      g.build.infoBytes,
      g.build.joinMs,
    ]),
  )

  const am = (g: EncryptedGroupResult) => g.addMember
  console.log(
    `\nadding one member who has joined the group, median of ${first.addMember.adds} adds, one at a time ` +
      `(${groups.map((g) => `leaves ${am(g).leavesBefore + 1}–${am(g).leavesAfter}`).join(', ')}), ms. ` +
      '"stack": a request through the local stack (gateway, functions, DynamoDB Local, S3 emulator); ' +
      '"engine": ts-mls alone in this process. The joiner starts after the adder\'s ack, so the two do not ' +
      'share the CPU; its chat.commit arrives before the ack\n',
  )
  const row = (step: string, where: string, value: (g: EncryptedGroupResult) => number | string) => [
    step,
    where,
    ...groups.map(value),
  ]
  printTable(
    ['step', 'measured', ...sizes],
    [
      row('adder: claim the key package', 'stack', (g) => am(g).stackMs.claim),
      row('adder: make the commit', 'engine', (g) => am(g).engineMs.commit),
      row('adder: upload parts over the inline limit (attachment + PUT)', 'stack', (g) =>
        am(g).uploaded.length === 0
          ? `${am(g).stackMs.upload} (none)`
          : `${am(g).stackMs.upload} (${am(g).uploaded.join(', ')})`,
      ),
      row('adder: send commit until the ack', 'stack', (g) => am(g).stackMs.commitAck),
      row('adder, in all', 'both', (g) => am(g).stackMs.adder),
      row('joiner: chat.commit arrives, from the commit sent', 'stack', (g) => am(g).stackMs.delivered),
      row(
        'joiner: fetch the Welcome (download + GET when uploaded)',
        'stack',
        (g) => am(g).stackMs.welcomeFetch,
      ),
      row('joiner: join from the Welcome', 'engine', (g) => am(g).engineMs.join),
      row('joiner: check the keys against `roster`', 'stack', (g) => am(g).stackMs.rosterCheck),
      row('claim to joined (adder in all + fetch, join, check)', 'both', (g) => am(g).stackMs.endToEnd),
      row('another member processes the commit', 'engine', (g) => am(g).engineMs.process),
    ],
  )
  console.log(
    "\nthe first add's parts, bytes (uploaded: over the 24,000 base64 characters sent inline in all)\n",
  )
  const part = (g: EncryptedGroupResult, p: Part) =>
    `${am(g).bytes[p]} ${am(g).uploaded.includes(p) ? 'uploaded' : 'inline'}`
  printTable(
    ['part', ...sizes],
    [
      ['commit', ...groups.map((g) => part(g, 'commit'))],
      ['Welcome', ...groups.map((g) => part(g, 'welcome'))],
      ['group info', ...groups.map((g) => part(g, 'info'))],
    ],
  )
}

/** The previous figures: results.json's `encrypted`. */
async function readPrevious(): Promise<EncryptedResults | undefined> {
  return (await readResults()).encrypted as EncryptedResults | undefined
}

/** Every numeric figure by a readable path. */
function figures(results: EncryptedResults): Map<string, number> {
  const flat = new Map<string, number>()
  const walk = (prefix: string, value: unknown) => addFigures(flat, prefix, value)
  // Counts of the run's plan, not figures.
  for (const { members, perMessage, addMember, ...rest } of results.groups) {
    walk(`encrypted.${members} members`, {
      ...rest,
      perMessage: { ...perMessage, messages: undefined },
      addMember: { ...addMember, adds: undefined, leavesBefore: undefined, leavesAfter: undefined },
    })
  }
  return flat
}

await main()
