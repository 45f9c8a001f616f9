import { describe, expect, inject, it } from 'vitest'
import { DynamoPresence } from '../../lambdas/adapters/dynamo/presence.js'
import { DynamoTable } from '../../lambdas/adapters/dynamo/table.js'
import type { PresenceChange } from '../../lambdas/core/ports.js'
import { Presence } from '../../lambdas/core/presence.js'
import { viewOf } from '../../lambdas/core/presence-sharing.js'
import { emulatorDynamoClient } from '../../local/emulators.js'
import { localNames } from '../../local/stack.js'
import { tableClient, unique } from '../support/huddle.js'

const at = (iso: string) => new Date(iso)

describe('presence as others see it', () => {
  const record = {
    iss: 'alice',
    online: true,
    connected: false,
    hidden: false,
    since: '2026-01-01T10:00:00Z',
  }

  it('is online while the grace runs, and offline since the close once a lost check is long overdue', () => {
    const leaving = { ...record, leftAt: '2026-01-01T11:00:00Z' }
    expect(viewOf('alice', leaving, at('2026-01-01T11:00:15Z'), 20)).toEqual({ iss: 'alice', online: true })
    expect(viewOf('alice', leaving, at('2026-01-01T11:10:00Z'), 20)).toEqual({
      iss: 'alice',
      online: false,
      lastSeen: '2026-01-01T11:00:00Z',
    })
  })

  it('is offline when no connection is left and no grace runs, hidden as the identity alone, unknown as offline', () => {
    expect(viewOf('alice', record, at('2026-01-01T11:00:00Z'), 20)).toEqual({
      iss: 'alice',
      online: false,
      lastSeen: '2026-01-01T10:00:00Z',
    })
    expect(viewOf('alice', { ...record, connected: true, hidden: true }, new Date(), 20)).toEqual({
      iss: 'alice',
    })
    expect(viewOf('bob', undefined, new Date(), 20)).toEqual({ iss: 'bob', online: false })
  })
})

describe('connections when the presence queue fails', () => {
  // A fresh identity has no group to tell when it comes online; its departure is queued, and fails.
  it('are kept and forgotten all the same, and the lost announcement is reported', async () => {
    const table = new DynamoTable(emulatorDynamoClient(inject('dynamoEndpoint')), localNames.table)
    const { store } = tableClient()
    const failures: unknown[] = []
    const presence = new Presence({
      connections: store,
      store: new DynamoPresence(table),
      changes: {
        schedule: async (_change: PresenceChange) => {
          throw new Error('SQS is down')
        },
      },
      graceSeconds: 20,
      onUnannounced: (error) => failures.push(error),
    })
    const caller = { iss: unique('alice'), connectionId: unique('conn') }
    await presence.connect(caller)
    expect((await store.connectionsOf([caller.iss])).get(caller.iss)).toEqual([caller.connectionId])
    await presence.disconnect(caller)
    expect(await store.connectionsOf([caller.iss])).toEqual(new Map())
    expect(failures).toHaveLength(1)
  })
})
