import { vi } from 'vitest'
import { groupItems } from './huddle.js'

/**
 * Waits until the purge worker has ended a deleted group's purge: deleteGroup answers once the group is marked,
 * and its items and objects go afterwards. Resolves with the mark, the one item left.
 */
export async function purgeEnded(gid: string, timeout = 20_000): Promise<Record<string, unknown>> {
  return vi.waitFor(
    async () => {
      const items = (await groupItems(gid)) as Record<string, unknown>[]
      const [mark, ...rest] = [...items].sort((a, b) => Number(b.SK === 'META') - Number(a.SK === 'META'))
      if (mark?.SK !== 'META' || mark.purged !== true || rest.length > 0) {
        throw new Error(`${gid}: ${items.length} items left`)
      }
      return mark
    },
    { timeout, interval: 100 },
  )
}
