import type { AckResults, GroupView, ImageLink, MessageEvent } from '../lambdas/core/protocol.js'
import type { ChatClient } from './client.js'
import { ChatError } from './error.js'
import { Listeners } from './listeners.js'

type Requester = Pick<ChatClient, 'request'>

/** The caller's own standing in a group, as far as this client has seen. */
export type MembershipStatus = 'invited' | 'joined' | 'left'

/** An avatar to upload with a new group: raw image bytes and their mime type. */
export interface Avatar {
  data: Uint8Array | ArrayBuffer | Blob
  mime: string
}

/** The server's ack to a message: its id, server time, and whether it was a retry of one already stored. */
export type MessageReceipt = AckResults['message']

/** What a group looks like on the wire, with members flattened to identities. */
interface GroupInfo {
  gid: string
  name: string
  members: string[]
  image?: ImageLink
}

/** The chat API of one connection, shaped like the Self SDK's ChatService. */
export class ChatService {
  readonly #client: ChatClient
  readonly #invites: Listeners<[ChatGroup]>
  readonly #joins: Listeners<[string, string]>
  readonly #leaves: Listeners<[string, string]>
  readonly #messages: Listeners<[ChatMessage]>

  constructor(client: ChatClient, report: (error: unknown) => void) {
    this.#client = client
    this.#invites = new Listeners(report)
    this.#joins = new Listeners(report)
    this.#leaves = new Listeners(report)
    this.#messages = new Listeners(report)
    client.onEvent((event) => {
      if (event.type === 'chat.invite') this.#invites.emit(new ChatGroup(client, event, 'invited'))
      else if (event.type === 'chat.join') this.#joins.emit(event.iss, event.gid)
      else if (event.type === 'chat.leave') this.#leaves.emit(event.iss, event.gid)
      else if (event.type === 'chat.message') this.#messages.emit(new ChatMessage(client, event))
    })
    // Invites sent while this identity was offline are only delivered on request.
    client.onStatus((status) => {
      if (status === 'open' && this.#invites.size > 0) this.#sync()
    })
  }

  /** Called with each group this identity is invited to, including invites that waited while it was offline. */
  onInvite(callback: (group: ChatGroup) => unknown): () => void {
    const first = this.#invites.size === 0
    const unsubscribe = this.#invites.add(callback)
    if (first && this.#client.status === 'open') this.#sync()
    return unsubscribe
  }

  /** Called when `iss` joins group `gid` (for groups this identity has joined). */
  onJoin(callback: (iss: string, gid: string) => unknown): () => void {
    return this.#joins.add(callback)
  }

  /** Called when `iss` leaves group `gid`. */
  onLeave(callback: (iss: string, gid: string) => unknown): () => void {
    return this.#leaves.add(callback)
  }

  /** Called with each message sent to a group this identity has joined. */
  onMessage(callback: (message: ChatMessage) => unknown): () => void {
    return this.#messages.add(callback)
  }

  /** Creates group `gid` (or adds members to it), uploading the avatar first when one is given. */
  async invite(gid: string, name: string, members: string[], avatar?: Avatar): Promise<ChatGroup> {
    const key = avatar ? await uploadAvatar(this.#client, avatar) : undefined
    const { group } = await this.#client.request('invite', {
      gid,
      name,
      members,
      ...(key !== undefined && { avatar: { key } }),
    })
    return new ChatGroup(this.#client, flatten(group), 'joined')
  }

  /** Joins group `gid` by id alone, for an invite seen elsewhere (another device, an earlier session). */
  async join(gid: string): Promise<ChatGroup> {
    const { group } = await this.#client.request('join', { gid })
    return new ChatGroup(this.#client, flatten(group), 'joined')
  }

  /** Leaves group `gid`, or declines its invite. */
  async leave(gid: string): Promise<void> {
    await this.#client.request('leave', { gid })
  }

  /** Every group this identity is invited to or has joined. */
  async groups(): Promise<ChatGroup[]> {
    const { groups } = await this.#client.request('groups', {})
    return groups.map((group) => new ChatGroup(this.#client, flatten(group), group.status))
  }

  #sync(): void {
    this.#client.request('sync', {}).catch(() => {})
  }
}

/** A group as the Self SDK models it; the server owns membership, so these calls are checked there. */
export class ChatGroup {
  readonly gid: string
  name: string
  /** Every identity in the group; the SDK refreshes it on join() and invite(), apps may keep it current. */
  members: string[]
  image: ImageLink | undefined
  status: MembershipStatus
  readonly #client: Requester

  constructor(client: Requester, group: GroupInfo, status: MembershipStatus) {
    this.#client = client
    this.gid = group.gid
    this.name = group.name
    this.members = [...group.members]
    this.image = group.image
    this.status = status
  }

  /** Accepts the invite; afterwards this identity receives the group's messages. */
  async join(): Promise<void> {
    const { group } = await this.#client.request('join', { gid: this.gid })
    this.#refresh(flatten(group))
    this.status = 'joined'
  }

  /** Leaves the group (or declines the invite); no more of its messages arrive. */
  async leave(): Promise<void> {
    await this.#client.request('leave', { gid: this.gid })
    this.status = 'left'
  }

  /** Sends `body` to every joined member; `jti` makes a retry of the same message idempotent. */
  message(body: string, options: { rid?: string; jti?: string } = {}): Promise<MessageReceipt> {
    return sendMessage(this.#client, this.gid, body, options)
  }

  /** Invites more identities to this group. */
  async invite(member: string | string[]): Promise<void> {
    const members = typeof member === 'string' ? [member] : member
    const { group } = await this.#client.request('invite', { gid: this.gid, name: this.name, members })
    this.#refresh(flatten(group))
  }

  #refresh(group: GroupInfo): void {
    this.name = group.name
    this.members = [...group.members]
    this.image = group.image
  }
}

/** A received group message that can answer itself, so apps never look its group up. */
export class ChatMessage {
  readonly gid: string
  readonly iss: string
  readonly jti: string
  readonly body: string
  readonly rid: string | undefined
  readonly iat: string
  readonly #client: Requester

  constructor(client: Requester, event: Omit<MessageEvent, 'type'>) {
    this.#client = client
    this.gid = event.gid
    this.iss = event.iss
    this.jti = event.jti
    this.body = event.body
    this.rid = event.rid
    this.iat = event.iat
  }

  /** Replies in the same group, marking this message as the one answered (`rid`). */
  respond(body: string): Promise<MessageReceipt> {
    return sendMessage(this.#client, this.gid, body, { rid: this.jti })
  }

  /** Sends a new message to the same group. */
  message(body: string): Promise<MessageReceipt> {
    return sendMessage(this.#client, this.gid, body, {})
  }
}

function sendMessage(
  client: Requester,
  gid: string,
  body: string,
  { rid, jti = crypto.randomUUID() }: { rid?: string; jti?: string },
): Promise<MessageReceipt> {
  return client.request('message', { gid, body, jti, ...(rid !== undefined && { rid }) })
}

async function uploadAvatar(client: Requester, { data, mime }: Avatar): Promise<string> {
  const blob = data instanceof Blob ? data : new Blob([new Uint8Array(data)])
  const upload = await client.request('avatar', { mime, size: blob.size })
  const response = await fetch(upload.url, { method: upload.method, headers: upload.headers, body: blob })
  if (!response.ok) throw new ChatError('UPLOAD_FAILED', `the avatar upload was answered ${response.status}`)
  return upload.key
}

function flatten(group: GroupView): GroupInfo {
  return { ...group, members: group.members.map((member) => member.iss) }
}
