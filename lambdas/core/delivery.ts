import { forEachLimited } from './concurrency.js'
import type { Caller } from './context.js'
import type { ChatStore, DeliveryReport, EventSender, Member } from './ports.js'
import type { ChatEvent } from './protocol.js'

/** Whom one event goes to: every open connection of the recipients, read before the post. */
export interface DeliveryPlan {
  recipients: number
  targets: { iss: string; connectionId: string }[]
  started: number
}

/**
 * Turns identities into connections and posts events to them. Posting is at most once: a post that
 * fails is counted, and the recipient's client recovers the event from the group's log by its seq.
 */
export class Delivery {
  constructor(
    private readonly store: ChatStore,
    private readonly sender: EventSender,
    private readonly concurrency: number,
    private readonly onDelivery?: (report: DeliveryReport) => void,
  ) {}

  /** Posts one event to every connection of each recipient, except the connection it came from. */
  async deliver(event: ChatEvent, recipients: string[], origin?: Caller): Promise<DeliveryReport> {
    return this.post(event, await this.plan(recipients, origin))
  }

  /** Posts one event to the joined members' connections, as their memberships hold them (no extra read). */
  async toMembers(event: ChatEvent, members: Member[], origin?: Caller): Promise<DeliveryReport> {
    const joined = members.filter((m) => m.status === 'joined')
    const targets = joined.flatMap(({ iss, conns = [] }) =>
      conns
        .filter((connectionId) => connectionId !== origin?.connectionId)
        .map((connectionId) => ({ iss, connectionId })),
    )
    return this.post(event, { recipients: joined.length, targets, started: Date.now() })
  }

  /** Posts one event to one connection, the caller's own; true when it was sent. */
  async toCaller(event: ChatEvent, caller: Caller): Promise<boolean> {
    const plan = { recipients: 1, targets: [caller], started: Date.now() }
    return (await this.post(event, plan)).sent === 1
  }

  /** Reads the recipients' connections in batches; the originating connection is left out. */
  async plan(recipients: string[], origin?: Caller): Promise<DeliveryPlan> {
    const started = Date.now()
    const connections = await this.store.connectionsOf(recipients)
    const targets: DeliveryPlan['targets'] = []
    for (const [iss, ids] of connections) {
      for (const connectionId of ids)
        if (connectionId !== origin?.connectionId) targets.push({ iss, connectionId })
    }
    return { recipients: recipients.length, targets, started }
  }

  /**
   * Posts the event, serialized once, with bounded concurrency. A gone connection is the recipient's
   * stale one: it is forgotten and the others still get the event.
   */
  async post(event: ChatEvent, plan: DeliveryPlan): Promise<DeliveryReport> {
    const data = JSON.stringify(event)
    const report: DeliveryReport = {
      event: event.type,
      recipients: plan.recipients,
      connections: plan.targets.length,
      sent: 0,
      pruned: 0,
      failed: 0,
      millis: 0,
    }
    await forEachLimited(plan.targets, this.concurrency, async ({ iss, connectionId }) => {
      try {
        if ((await this.sender.send(connectionId, data)) === 'sent') {
          report.sent++
        } else {
          report.pruned++
          await this.store.deleteConnection(connectionId, iss)
        }
      } catch {
        report.failed++
      }
    })
    report.millis = Date.now() - plan.started
    this.onDelivery?.(report)
    return report
  }
}
