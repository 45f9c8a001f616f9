import { bucketPrefixes } from '../routes.js'
import { forEachLimited } from './concurrency.js'
import type { GroupPurges, ObjectStore, PurgeRun, PurgeWorkers } from './ports.js'

/** What one invocation of a purge did, for the log and the metrics. */
export interface PurgeReport {
  gid: string
  run: string
  pages: number
  items: number
  objects: number
  millis: number
  /** How it stopped: the purge ended, the rest went to a fresh invocation, or it was not this run's to do
   * (ended already, or another run holds it). */
  outcome: 'purged' | 'handed over' | 'not ours'
}

export interface GroupPurgeOptions {
  store: GroupPurges
  objects: ObjectStore
  /** Without workers a purge runs where it starts, to its end (tests, tools). */
  workers?: PurgeWorkers
  newId: () => string
  /** Items a page reads. */
  pageSize?: number
  /** Objects deleted at once. */
  objectConcurrency?: number
  /** How long a run's hold on the purge lasts from each page's start (ms): longer than a page takes. */
  leaseMs?: number
  /** A run hands the rest over when less than this is left of its time (ms): more than a page takes. */
  handOverMs?: number
  onReport?: (report: PurgeReport) => void
}

/**
 * Removes a deleted group in a worker, a page of its partition at a time. First its members are let go (each
 * member and invitee gets its notice for the next sync, each joined member's set of groups loses it), then
 * every item goes: for each page the objects its items name are deleted first, then the items, so that no
 * object outlives the item naming it and a purge cut at any point is finished by running it again (from where
 * it stopped, or from the start). A run holds a lease on the mark, so that only one purges a group at a time;
 * one near its deadline hands the rest to a fresh invocation. A purge ends only once a read from the
 * partition's start finds nothing left but the mark, so an item written behind a pass is not left behind.
 */
export class GroupPurge {
  private readonly pageSize: number
  private readonly objectConcurrency: number
  private readonly leaseMs: number
  private readonly handOverMs: number

  constructor(private readonly options: GroupPurgeOptions) {
    this.pageSize = options.pageSize ?? 250
    this.objectConcurrency = options.objectConcurrency ?? 25
    this.leaseMs = options.leaseMs ?? 2 * 60_000
    this.handOverMs = options.handOverMs ?? 30_000
  }

  /** The group's deletion mark; undefined when no group `gid` is marked deleted. */
  mark(gid: string) {
    return this.options.store.deletionMark(gid)
  }

  /** Starts a purge of `gid` (a new run, which waits for a running one's lease to lapse): in a worker, or
   * here when there is none. */
  async start(gid: string): Promise<void> {
    const run: PurgeRun = { gid, run: this.options.newId() }
    if (this.options.workers) await this.options.workers.dispatch(run)
    else await this.run(run)
  }

  /** Purges page after page while more than a page's time is left of `remainingMs`, then hands the rest to
   * a fresh run of the same id. */
  async run(job: PurgeRun, remainingMs: () => number = () => Number.POSITIVE_INFINITY): Promise<PurgeReport> {
    const { store, objects, workers } = this.options
    const started = Date.now()
    const report: PurgeReport = {
      gid: job.gid,
      run: job.run,
      pages: 0,
      items: 0,
      objects: 0,
      millis: 0,
      outcome: 'not ours',
    }
    const done = (outcome: PurgeReport['outcome']) => {
      Object.assign(report, { outcome, millis: Date.now() - started })
      this.options.onReport?.(report)
      return report
    }
    let phase = job.phase ?? 'members'
    let after = job.after
    for (;;) {
      const now = Date.now()
      const mark = await store.claimPurge(job.gid, job.run, now, now + this.leaseMs)
      if (mark === undefined) return done('not ours')
      if (workers && report.pages > 0 && remainingMs() < this.handOverMs) {
        await workers.dispatch({ gid: job.gid, run: job.run, phase, ...(after !== undefined && { after }) })
        return done('handed over')
      }
      const page = await store.readPurgePage(job.gid, this.pageSize, after, phase === 'members')
      report.pages++
      if (phase === 'members') {
        await store.releaseMembers(mark, page)
        after = page.next
        if (after === undefined) phase = 'items'
        continue
      }
      if (page.items.length > 0) {
        await forEachLimited(page.objects, this.objectConcurrency, (key) => objects.delete(key))
        await store.removePurgePage(page)
        report.items += page.items.length
        report.objects += page.objects.length
      }
      if (page.next !== undefined) {
        after = page.next
        continue
      }
      if (after !== undefined || page.items.length > 0) {
        // Once more from the start, for anything written behind this pass.
        after = undefined
        continue
      }
      // Nothing is left but the mark: its avatar goes, and whatever is left under the group's prefixes that no
      // item names (a copy whose write never landed, an avatar whose update has expired); then the purge ends.
      const prefixes = [bucketPrefixes.avatars, bucketPrefixes.files, bucketPrefixes.mls]
      const unnamed = await Promise.all(prefixes.map((prefix) => objects.list(`${prefix}${job.gid}/`)))
      const rest = [...new Set([...mark.objects, ...unnamed.flat()])]
      await forEachLimited(rest, this.objectConcurrency, (key) => objects.delete(key))
      report.objects += rest.length
      return done((await store.endPurge(job.gid, job.run)) ? 'purged' : 'not ours')
    }
  }
}
