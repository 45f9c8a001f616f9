import { identityPattern } from '@huddle/client/protocol'
import { bucketPrefixes } from '../routes.js'

// Every object key the server writes is built here, and every key a request names is parsed back here,
// exactly: a key that is not character for character one these functions build names nothing.

/** A message's jti: 1–64 of [A-Za-z0-9_.:-], not `.` or `..` (it is a segment of its files' keys). */
export const messageIdPattern = /^(?!\.\.?$)[A-Za-z0-9_.:-]{1,64}$/

/** The id of an upload: a lowercase UUID, as the server issues them. */
export const uploadIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The parts of a commit that may be kept as objects. */
export const mlsParts = ['commit', 'welcome', 'info'] as const
export type MlsPart = (typeof mlsParts)[number]

/** Where identity `iss` uploads: `uploads/<iss>/<id>`. */
export function uploadKey(iss: string, id: string): string {
  return `${bucketPrefixes.uploads}${iss}/${id}`
}

/** The file `index` of message `jti` of group `gid`: `files/<gid>/<jti>/<index>`. */
export function fileKey(gid: string, jti: string, index: number): string {
  return `${bucketPrefixes.files}${gid}/${jti}/${index}`
}

/** A commit part kept from upload `uploadId`, of the commit made at `epoch`: `mls/<gid>/<epoch>/<part>-<uploadId>`. */
export function mlsPartKey(gid: string, epoch: number, part: MlsPart, uploadId: string): string {
  return `${bucketPrefixes.mls}${gid}/${epoch}/${part}-${uploadId}`
}

/** The identity and id of an upload key, or undefined when `key` is not exactly one `uploadKey` builds. */
export function parseUploadKey(key: string): { iss: string; id: string } | undefined {
  const [iss, id] = segmentsAfter(bucketPrefixes.uploads, key, 2) ?? []
  if (iss === undefined || id === undefined || !uploadIdPattern.test(id)) return undefined
  return identityPattern.test(iss) ? { iss, id } : undefined
}

/** The group, message and index of a file key, or undefined when `key` is not exactly one `fileKey` builds. */
export function parseFileKey(key: string): { gid: string; jti: string; index: number } | undefined {
  const [gid, jti, index] = segmentsAfter(bucketPrefixes.files, key, 3) ?? []
  if (gid === undefined || jti === undefined || index === undefined) return undefined
  if (!identityPattern.test(gid) || !messageIdPattern.test(jti) || !canonicalNumber.test(index)) {
    return undefined
  }
  return { gid, jti, index: Number(index) }
}

/** What a commit part's key names, or undefined when `key` is not exactly one `mlsPartKey` builds. */
export function parseMlsPartKey(
  key: string,
): { gid: string; epoch: number; part: MlsPart; uploadId: string } | undefined {
  const [gid, epoch, name] = segmentsAfter(bucketPrefixes.mls, key, 3) ?? []
  if (gid === undefined || epoch === undefined || name === undefined) return undefined
  const [, part, uploadId] = partName.exec(name) ?? []
  if (!identityPattern.test(gid) || !canonicalNumber.test(epoch)) return undefined
  const known = mlsParts.find((p) => p === part)
  if (known === undefined || uploadId === undefined || !uploadIdPattern.test(uploadId)) return undefined
  return { gid, epoch: Number(epoch), part: known, uploadId }
}

/** A commit part's name: the part, a dash, and the upload it was kept from. */
const partName = /^([a-z]+)-(.+)$/

/** A whole number as the server writes one: decimal, no sign, no leading zero, below 2^53. */
const canonicalNumber = /^(?:0|[1-9][0-9]{0,14})$/

/** The `count` segments of `key` after `prefix`, when it has exactly that many. */
function segmentsAfter(prefix: string, key: string, count: number): string[] | undefined {
  if (!key.startsWith(prefix)) return undefined
  const segments = key.slice(prefix.length).split('/')
  return segments.length === count ? segments : undefined
}
