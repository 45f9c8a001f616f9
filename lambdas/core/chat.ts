import { type ChatSettings, defaultChatSettings } from '../settings.js'
import { Administration } from './administration.js'
import { Attachments } from './attachments.js'
import { Avatars } from './avatars.js'
import { Blocks } from './blocks.js'
import { contextOf } from './context.js'
import { Conversation } from './conversation.js'
import { Delivery } from './delivery.js'
import { DeviceLists } from './device-lists.js'
import { GroupKeys } from './group-keys.js'
import { GroupPurge } from './group-purge.js'
import { KeyPackages } from './key-packages.js'
import { Membership } from './membership.js'
import type {
  DeliveryReport,
  EventSender,
  FanOutWorkers,
  ObjectStore,
  PurgeWorkers,
  RateLimit,
  Stores,
} from './ports.js'
import { type RateBucket, RateLimits, rateLimitsOf } from './rate-limits.js'
import { Uploads } from './uploads.js'

export type { Caller } from './model.js'

/** What the whole chat is built from: every store port, the bucket, the sender and the options. */
export interface ChatDeps {
  store: Stores
  objects: ObjectStore
  sender: EventSender
  now?: () => Date
  newId?: () => string
  /** Workers that post the slices of a large fan-out; without them, a function posts every connection. */
  workers?: FanOutWorkers
  /** Workers that purge deleted groups; without them, a deletion purges the group before it answers. */
  purgeWorkers?: PurgeWorkers
  /** The limits to enforce, each the deployed default (lambdas/settings.ts) unless given. */
  settings?: Partial<ChatSettings>
  /** Each identity's token buckets, when not those the settings give. */
  rateLimits?: Record<RateBucket, RateLimit>
  /** Told of each security event (see ChatContext.security). */
  onSecurity?: (kind: string, details: Record<string, string | number>) => void
  onDelivery?: (report: DeliveryReport) => void
}

/** Group chat with no AWS in sight, every capability at once (tests, benchmarks, tools); each function wires only
 * the capabilities its route uses (lambdas/adapters/wiring/). */
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
  /** Deleted groups' purges, for the worker that runs them. */
  readonly purge: GroupPurge
  /** Per-identity rate limits: the handler adapter admits each write through them. */
  readonly rateLimits: RateLimits

  constructor(deps: ChatDeps) {
    const settings: ChatSettings = { ...defaultChatSettings, ...deps.settings }
    const basics = contextOf(deps.store, settings, deps)
    this.delivery = new Delivery({
      store: deps.store,
      sender: deps.sender,
      concurrency: settings.fanOutConcurrency,
      workers: deps.workers,
      sliceSize: settings.fanOutSliceSize,
      newId: basics.newId,
      onDelivery: deps.onDelivery,
    })
    const context = { ...basics, objects: deps.objects, delivery: this.delivery }
    const uploads = new Uploads(context)
    this.avatars = new Avatars(context, uploads)
    this.attachments = new Attachments(context, uploads)
    this.blocks = new Blocks(context)
    this.membership = new Membership(context, this.avatars, this.blocks)
    this.rateLimits = new RateLimits(deps.store, deps.rateLimits ?? rateLimitsOf(settings), basics.now)
    this.conversation = new Conversation(context, this.rateLimits, this.avatars, this.attachments)
    this.purge = new GroupPurge({
      store: deps.store,
      objects: deps.objects,
      ...(deps.purgeWorkers && { workers: deps.purgeWorkers }),
      newId: basics.newId,
    })
    this.administration = new Administration(context, this.membership, this.avatars, this.purge)
    this.keyPackages = new KeyPackages(context)
    this.groupKeys = new GroupKeys(context, uploads)
    this.deviceLists = new DeviceLists(context)
  }
}
