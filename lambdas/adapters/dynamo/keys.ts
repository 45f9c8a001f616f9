import { tableSchema } from './table-schema.js'

const { partitionKey: PK, sortKey: SK } = tableSchema
const { partitionKey: GSI1PK, sortKey: GSI1SK } = tableSchema.userIndex

/** Seqs are zero-padded in sort keys, so that key order is seq order. */
const seqDigits = 12

const keyPackagePrefix = 'KEYPKG#'
const deviceListPrefix = 'DEVLIST#'

/** Every key of the table is built here. */
export const keys = {
  group: (gid: string) => ({ [PK]: `GROUP#${gid}`, [SK]: 'META' }),
  member: (gid: string, iss: string) => ({ [PK]: `GROUP#${gid}`, [SK]: `MEMBER#${iss}` }),
  memberPrefix: 'MEMBER#',
  /** The inverted index entry that lists a user's groups. */
  memberOfUser: (gid: string, iss: string) => ({ [GSI1PK]: `USER#${iss}`, [GSI1SK]: `GROUP#${gid}` }),
  userMemberships: (iss: string) => `USER#${iss}`,
  /** The sort key of the index entry of group `gid`, for paging a user's groups. */
  userMembershipOf: (gid: string) => `GROUP#${gid}`,
  /** One item per event of a group's log, in seq order. */
  event: (gid: string, seq: number) => ({ [PK]: `GROUP#${gid}`, [SK]: eventSortKey(seq) }),
  eventSortKey,
  /** One per message id in a group: written with the message, so a retry is detected and a jti resolves. */
  messageMarker: (gid: string, jti: string) => ({ [PK]: `GROUP#${gid}`, [SK]: `JTI#${jti}` }),
  connection: (connectionId: string) => ({ [PK]: `CONN#${connectionId}`, [SK]: 'META' }),
  /** A counter of one identity's `action` in the fixed window that starts at `windowStart` (epoch seconds). */
  rateWindow: (iss: string, action: string, windowStart: number) => ({
    [PK]: `RATE#${iss}`,
    [SK]: `${action}#${windowStart}`,
  }),
  /** One identity's token bucket (its theoretical arrival time, GCRA), shared by every function. */
  rateBucket: (iss: string, bucket: string) => ({ [PK]: `RATE#${iss}`, [SK]: `BUCKET#${bucket}` }),
  /** One item per user holding the set of its connection ids (and a version that moves with it). */
  userConnections: (iss: string) => ({ [PK]: `USER#${iss}`, [SK]: 'CONNS' }),
  /** One item per fan-out slice handed to a worker: who holds it, how far it got, whether it is done. */
  fanOutSlice: (id: string) => ({ [PK]: `SLICE#${id}`, [SK]: 'META' }),
  /** One item per identity another blocks: its invites no longer reach the blocker. */
  block: (blocker: string, iss: string) => ({ [PK]: `USER#${blocker}`, [SK]: `BLOCK#${iss}` }),
  blockPrefix: 'BLOCK#',
  /** One item per group an identity was in when the group was deleted, for its sync (kept 30 days). */
  deletedGroup: (iss: string, gid: string) => ({ [PK]: `USER#${iss}`, [SK]: `GONE#${gid}` }),
  deletedGroupPrefix: 'GONE#',
  /** One item per user holding the set of groups it has joined, read consistently when it connects. */
  userGroups: (iss: string) => ({ [PK]: `USER#${iss}`, [SK]: 'GROUPS' }),
  /** Where a group's joined members are connected: the versions of its recipient shards, beside its group item. */
  recipients: (gid: string) => ({ [PK]: `GROUP#${gid}`, [SK]: 'RCPT' }),
  /** One shard of a group's recipients: up to a hundred joined members and their connection ids. */
  recipientShard: (gid: string, shard: number) => ({
    [PK]: `GROUP#${gid}`,
    [SK]: `RCPT#${String(shard).padStart(5, '0')}`,
  }),
  /** An encrypted group's roster: beside its group item, but out of the range readGroup queries. */
  roster: (gid: string) => ({ [PK]: `GROUP#${gid}`, [SK]: 'ROSTER' }),
  /** One item per published key package of an identity's device (devices hold no `#`). */
  keyPackage: (iss: string, device: string, ref: string) => ({
    [PK]: `USER#${iss}`,
    [SK]: `${keyPackagePrefix}${device}#${ref}`,
  }),
  /** The sort-key prefix of an identity's key packages, or of one device's. */
  keyPackagesOf: (device?: string) =>
    device === undefined ? keyPackagePrefix : `${keyPackagePrefix}${device}#`,
  /** One item per version of an identity's device list, in version order. */
  deviceList: (iss: string, version: number) => ({
    [PK]: `USER#${iss}`,
    [SK]: `${deviceListPrefix}${String(version).padStart(6, '0')}`,
  }),
  deviceListPrefix,
  /** A key package `claim` handed out for group `gid`: a commit may add it once, by the claimant. */
  claim: (gid: string, ref: string) => ({ [PK]: `CLAIM#${gid}`, [SK]: ref }),
}

function eventSortKey(seq: number): string {
  return `E#${String(seq).padStart(seqDigits, '0')}`
}

/** A kind of item the table holds: its key's pattern (`<…>` a part that varies), what it is, and one key the
 * builders make, which the pattern must match. */
export interface ItemKind {
  pk: string
  sk: string
  item: string
  sample: Record<string, string>
}

/** Every kind of item the table holds: the data model docs/architecture.md lists (test/core/data-model.test.ts). */
export const itemKinds: ItemKind[] = [
  { pk: 'GROUP#<gid>', sk: 'META', item: 'group', sample: keys.group('g') },
  { pk: 'GROUP#<gid>', sk: 'ROSTER', item: "an encrypted group's roster", sample: keys.roster('g') },
  { pk: 'GROUP#<gid>', sk: 'MEMBER#<iss>', item: 'membership', sample: keys.member('g', 'a') },
  { pk: 'GROUP#<gid>', sk: 'RCPT', item: "a group's recipient versions", sample: keys.recipients('g') },
  {
    pk: 'GROUP#<gid>',
    sk: 'RCPT#<shard, 5 digits>',
    item: 'a recipient shard',
    sample: keys.recipientShard('g', 1),
  },
  { pk: 'GROUP#<gid>', sk: 'E#<seq, 12 digits>', item: 'an event of the log', sample: keys.event('g', 1) },
  { pk: 'GROUP#<gid>', sk: 'JTI#<jti>', item: 'message id marker', sample: keys.messageMarker('g', 'j') },
  { pk: 'CONN#<connectionId>', sk: 'META', item: 'connection', sample: keys.connection('c') },
  { pk: 'USER#<iss>', sk: 'CONNS', item: "a user's open connections", sample: keys.userConnections('a') },
  { pk: 'USER#<iss>', sk: 'GROUPS', item: "a user's joined groups", sample: keys.userGroups('a') },
  {
    pk: 'USER#<iss>',
    sk: 'KEYPKG#<device>#<ref>',
    item: 'a key package',
    sample: keys.keyPackage('a', 'd', 'r'),
  },
  {
    pk: 'USER#<iss>',
    sk: 'DEVLIST#<version, 6 digits>',
    item: 'a device list version',
    sample: keys.deviceList('a', 1),
  },
  { pk: 'USER#<iss>', sk: 'BLOCK#<iss>', item: 'a block', sample: keys.block('a', 'b') },
  { pk: 'USER#<iss>', sk: 'GONE#<gid>', item: 'a deleted group notice', sample: keys.deletedGroup('a', 'g') },
  { pk: 'CLAIM#<gid>', sk: '<ref>', item: 'a claimed key package', sample: keys.claim('g', 'r') },
  { pk: 'SLICE#<id>', sk: 'META', item: 'a fan-out slice', sample: keys.fanOutSlice('s') },
  {
    pk: 'RATE#<iss>',
    sk: 'BUCKET#<bucket>',
    item: 'a token bucket',
    sample: keys.rateBucket('a', 'messages'),
  },
  {
    pk: 'RATE#<iss>',
    sk: '<action>#<window start>',
    item: 'a fixed-window count',
    sample: keys.rateWindow('a', 'create', 3600),
  },
]
