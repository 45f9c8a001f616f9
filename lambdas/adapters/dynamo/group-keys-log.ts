import type { CommitEvent, RevertEvent } from '@huddle/client/protocol'
import type { Appended, Roster } from '../../core/model.js'
import { DynamoGroupAppends, mapRejected } from './group-appends.js'
import { keys } from './keys.js'
import { PK, SK, type TransactItem, TTL } from './table.js'

/** An encrypted group's keys as the group store keeps them: its roster, its commits and reverts in its log, and
 * the key packages claimed for it. */
export abstract class DynamoGroupKeysLog extends DynamoGroupAppends {
  async readRoster(gid: string): Promise<Roster | undefined> {
    const { Item } = await this.table.db.getItem({
      TableName: this.table.name,
      Key: keys.roster(gid),
      ConsistentRead: true,
    })
    if (Item === undefined) return undefined
    const { [PK]: _pk, [SK]: _sk, ...roster } = Item
    return { ...roster, epoch: Number(Item.epoch), leaves: (Item.leaves ?? []) as Roster['leaves'] } as Roster
  }

  async appendCommit(
    event: CommitEvent,
    roster: Roster,
    cleared: number[],
    expiresAt: number,
    claims: string[],
  ): Promise<Appended<never>> {
    const put: TransactItem = {
      Put: { TableName: this.table.name, Item: { ...keys.roster(event.gid), ...roster } },
    }
    // Each key package it adds was handed to its committer for this group, and is used once.
    const used = claims.map(
      (ref): TransactItem => ({
        Delete: {
          TableName: this.table.name,
          Key: keys.claim(event.gid, ref),
          // In the condition: a claim past its ttl is spent, though TTL has not deleted it yet.
          ConditionExpression: 'attribute_exists(#pk) AND #by = :by AND #ttl > :now',
          ExpressionAttributeNames: { '#pk': PK, '#by': 'by', '#ttl': TTL },
          ExpressionAttributeValues: { ':by': event.iss, ':now': Math.floor(Date.now() / 1000) },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      }),
    )
    const outcome = await this.append(event, expiresAt, put, used, {
      fields: { epoch: roster.epoch },
      cleared,
      alongsideRejects: true,
    })
    return mapRejected(outcome, () => undefined as never)
  }

  async appendRevert(
    event: RevertEvent,
    roster: Roster,
    stale: number[],
    was: number[],
    expiresAt: number,
  ): Promise<Appended<never>> {
    const put: TransactItem = {
      Put: { TableName: this.table.name, Item: { ...keys.roster(event.gid), ...roster } },
    }
    // A set cannot be empty: the stale leaves are set, or the ones there were taken out.
    const outcome = await this.append(event, expiresAt, put, [], {
      fields: { epoch: roster.epoch, ...(stale.length > 0 && { stale: new Set(stale) }) },
      cleared: stale.length > 0 ? [] : was,
    })
    return mapRejected(outcome, () => undefined as never)
  }

  async recordClaims(gid: string, claimant: string, refs: string[], expiresAt: number): Promise<void> {
    await Promise.all(
      refs.map((ref) =>
        this.table.db.putItem({
          TableName: this.table.name,
          Item: { ...keys.claim(gid, ref), by: claimant, [TTL]: expiresAt },
        }),
      ),
    )
  }
}
