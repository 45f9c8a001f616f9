import { limits } from '@huddle/client/protocol'
import { type ChatSettings, defaultChatSettings } from '../settings.js'
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
import { type RateBucket, RateLimits, rateLimitsOf } from './rate-limits.js'
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
  /** The limits to enforce, each the deployed default (lambdas/settings.ts) unless given. */
  settings?: Partial<ChatSettings>
  /** Each identity's token buckets, when not those the settings give. */
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
    const settings: ChatSettings = { ...defaultChatSettings, ...deps.settings }
    const retentionSeconds = settings.messageRetentionDays * daySeconds
    this.delivery = new Delivery({
      store: deps.store,
      sender: deps.sender,
      concurrency: deps.fanOutConcurrency ?? 32,
      workers: deps.workers,
      sliceSize: settings.fanOutSliceSize,
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
      settings,
      security: deps.onSecurity ?? (() => {}),
    }
    const uploads = new Uploads(this.context)
    this.avatars = new Avatars(this.context, uploads)
    this.attachments = new Attachments(this.context, uploads)
    this.blocks = new Blocks(this.context)
    this.membership = new Membership(this.context, this.avatars, this.blocks)
    this.rateLimits = new RateLimits(deps.store, deps.rateLimits ?? rateLimitsOf(settings), now)
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
