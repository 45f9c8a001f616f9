import { limits } from '@huddle/client/protocol'
import { Administration } from './administration.js'
import { Attachments } from './attachments.js'
import { Avatars } from './avatars.js'
import { Blocks } from './blocks.js'
import type { Caller, ChatContext } from './context.js'
import { Conversation } from './conversation.js'
import { Delivery } from './delivery.js'
import { DeviceLists } from './device-lists.js'
import { GroupKeys } from './group-keys.js'
import { KeyPackages } from './key-packages.js'
import { Membership } from './membership.js'
import type {
  ChatStore,
  DeliveryReport,
  EventSender,
  FanOutWorkers,
  ObjectStore,
  RateLimit,
} from './ports.js'
import { defaultRateLimits, type RateBucket, RateLimits } from './rate-limits.js'
import { Uploads } from './uploads.js'

export type { Caller } from './context.js'

export interface ChatDeps {
  store: ChatStore
  objects: ObjectStore
  sender: EventSender
  now?: () => Date
  newId?: () => string
  /** Posts in flight at once during one fan-out. */
  fanOutConcurrency?: number
  /** Workers that post the slices of a large fan-out; without them, a function posts every connection. */
  workers?: FanOutWorkers
  /** Connections per slice: a function posts the first slice of a fan-out and hands the others to workers;
   * default 1,000. */
  sliceSize?: number
  /** Days a group's events are kept (DynamoDB TTL); default 365. */
  retentionDays?: number
  /** Members (invited or joined) a group may have; default 10,000. */
  maxGroupSize?: number
  /** Groups one identity may create in an hour; default 20. */
  groupsPerHour?: number
  /** Invites one identity may have pending; default 100. */
  pendingInvitesPerIdentity?: number
  /** Bytes one attached file (as uploaded) may have, default 25 MiB; files one message may carry, default 10. */
  attachmentBytes?: number
  attachmentsPerMessage?: number
  /** Each identity's token buckets (per second, burst); default 5 and 20 for messages, 20 and 60 for writes. */
  rateLimits?: Record<RateBucket, RateLimit>
  /** Told of each security event (see ChatContext.security). */
  onSecurity?: (kind: string, details: Record<string, string | number>) => void
  onDelivery?: (report: DeliveryReport) => void
}

const daySeconds = 24 * 60 * 60

/** Group chat with no AWS in sight: avatars, membership, conversation and the connections they reach. */
export class Chat {
  readonly avatars: Avatars
  readonly attachments: Attachments
  readonly blocks: Blocks
  readonly membership: Membership
  readonly administration: Administration
  readonly conversation: Conversation
  /** Encrypted groups: the key-package directory, and commits and rosters of each group's keys. */
  readonly keyPackages: KeyPackages
  readonly groupKeys: GroupKeys
  readonly deviceLists: DeviceLists
  /** Fan-out, for the workers that post slices of it. */
  readonly delivery: Delivery
  /** Per-identity rate limits: the handler adapter admits each write through them. */
  readonly rateLimits: RateLimits
  private readonly context: ChatContext

  constructor(deps: ChatDeps) {
    const now = deps.now ?? (() => new Date())
    const newId = deps.newId ?? (() => crypto.randomUUID())
    const retentionSeconds = (deps.retentionDays ?? 365) * daySeconds
    this.delivery = new Delivery({
      store: deps.store,
      sender: deps.sender,
      concurrency: deps.fanOutConcurrency ?? 32,
      workers: deps.workers,
      sliceSize: deps.sliceSize ?? 1000,
      newId,
      onDelivery: deps.onDelivery,
    })
    this.context = {
      store: deps.store,
      objects: deps.objects,
      delivery: this.delivery,
      now,
      newId,
      expiresAt: (at) => Math.ceil(at.getTime() / 1000) + retentionSeconds,
      maxGroupSize: deps.maxGroupSize ?? 10_000,
      groupsPerHour: deps.groupsPerHour ?? 20,
      pendingInvitesPerIdentity: deps.pendingInvitesPerIdentity ?? 100,
      attachmentBytes: deps.attachmentBytes ?? 25 * 1024 * 1024,
      attachmentsPerMessage: deps.attachmentsPerMessage ?? 10,
      security: deps.onSecurity ?? (() => {}),
    }
    const uploads = new Uploads(this.context)
    this.avatars = new Avatars(this.context, uploads)
    this.attachments = new Attachments(this.context, uploads)
    this.blocks = new Blocks(this.context)
    this.membership = new Membership(this.context, this.avatars, this.blocks)
    this.rateLimits = new RateLimits(deps.store, deps.rateLimits ?? defaultRateLimits, now)
    this.conversation = new Conversation(this.context, this.rateLimits, this.avatars, this.attachments)
    this.administration = new Administration(this.context, this.membership, this.avatars, uploads)
    this.keyPackages = new KeyPackages(this.context)
    this.groupKeys = new GroupKeys(this.context, uploads)
    this.deviceLists = new DeviceLists(this.context)
  }

  async connect(caller: Caller): Promise<void> {
    const connectedAt = this.context.now()
    await this.context.store.saveConnection({
      ...caller,
      connectedAt: connectedAt.toISOString(),
      expiresAt: Math.ceil(connectedAt.getTime() / 1000) + limits.lifetimeSeconds,
    })
  }

  async disconnect(connectionId: string): Promise<void> {
    await this.context.store.deleteConnection(connectionId)
  }
}
