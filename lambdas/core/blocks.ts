import type { AckResults } from '@huddle/client/protocol'
import { limits } from '@huddle/client/protocol'
import type { Caller, ChatContext } from './context.js'
import { ChatError } from './errors.js'
import type { Frames } from './frames.js'
import type { BlockStore, MembershipIndex } from './ports.js'

/**
 * Who an identity blocks: invites from a blocked identity never reach it (they are not made), and pending
 * ones are not offered again. Messages in groups both belong to still arrive; apps hide them with the list.
 * It also keeps any identity from being buried in invites.
 */
export class Blocks {
  constructor(private readonly context: ChatContext<BlockStore & Pick<MembershipIndex, 'pendingInvites'>>) {}

  async block(caller: Caller, frame: Frames['block']): Promise<AckResults['block']> {
    if (frame.iss === caller.iss) throw new ChatError('BAD_REQUEST', 'block: you cannot block yourself')
    await this.context.store.setBlock({ blocker: caller.iss, iss: frame.iss }, true)
    return { iss: frame.iss, blocked: true }
  }

  async unblock(caller: Caller, frame: Frames['unblock']): Promise<AckResults['unblock']> {
    await this.context.store.setBlock({ blocker: caller.iss, iss: frame.iss }, false)
    return { iss: frame.iss, blocked: false }
  }

  async list(caller: Caller, frame: Frames['blocks']): Promise<AckResults['blocks']> {
    const page = await this.context.store.blocksOf(caller.iss, {
      ...(frame.cursor !== undefined && { after: frame.cursor }),
      limit: limits.listPage + 1,
    })
    const blocked = page.slice(0, limits.listPage)
    const last = blocked.at(-1)
    return { blocked, ...(page.length > blocked.length && last && { next: last }) }
  }

  /**
   * The identities among `invitees` an invite from `inviter` may reach: not those that block it, nor those
   * with `pendingInvitesPerIdentity` invites pending already (so that nobody can be buried in invites).
   */
  async reachable(inviter: string, invitees: string[]): Promise<string[]> {
    const { store } = this.context
    const { pendingInvitesPerIdentity: cap } = this.context.settings
    const [blocks, pending] = await Promise.all([
      store.findBlocks(invitees.map((blocker) => ({ blocker, iss: inviter }))),
      Promise.all(invitees.map((iss) => store.pendingInvites(iss, cap))),
    ])
    const blocking = new Set(blocks.map((block) => block.blocker))
    return invitees.filter((iss, i) => !blocking.has(iss) && (pending[i] ?? 0) < cap)
  }

  /** The identities among `inviters` that `iss` blocks. */
  async blockedBy(iss: string, inviters: string[]): Promise<Set<string>> {
    const unique = [...new Set(inviters)]
    const blocks = await this.context.store.findBlocks(
      unique.map((inviter) => ({ blocker: iss, iss: inviter })),
    )
    return new Set(blocks.map((block) => block.iss))
  }
}
