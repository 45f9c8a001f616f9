import { fromBase64, toBase64 } from './bytes.js'
import type { Request } from './connection.js'
import { ChatError } from './error.js'
import { type AckResults, limits, type MlsBytes } from './protocol.js'
import { putUpload } from './upload.js'

/** A commit as this device made it: the parts that go to the server. */
export interface CommitParts {
  commit: Uint8Array
  welcome?: Uint8Array
  info: Uint8Array
}

/** The server calls encrypted groups make, in their own terms: the one seam between group keys and the network. */
export interface KeyServer {
  /** The group's roster at its current epoch: leaves, members missing from the keys, stale leaves. */
  roster(gid: string): Promise<AckResults['roster']>
  /** Key packages (base64) of the devices of `iss` that hold no leaf; `have` names those that do. */
  claim(gid: string, iss: string, have: string[]): Promise<string[]>
  /** Sends a commit, its parts inline while they fit one frame, the rest uploaded; a CONFLICT is final. */
  commit(gid: string, parts: CommitParts): Promise<{ seq: number }>
  /** Asks the server to undo commit `epoch`, which this device cannot take in. */
  refuse(gid: string, epoch: number, reason: string): Promise<void>
  /** A commit's part, inline or downloaded. */
  fetch(gid: string, part: MlsBytes): Promise<Uint8Array>
  /** Publishes key packages (base64) of `device`; answers how many the directory holds. */
  publish(device: string, packages: string[]): Promise<number>
}

/** The key server over a connection's requests. */
export function keyServer(request: Request): KeyServer {
  return {
    roster: (gid) => request('roster', { gid }),
    async claim(gid, iss, have) {
      const { packages } = await request('claim', { gid, iss, ...(have.length > 0 && { have }) })
      return packages.map((item) => item.package)
    },
    async commit(gid, made) {
      return request('commit', { gid, ...(await placeParts(request, gid, made)) }, { once: true })
    },
    async refuse(gid, epoch, reason) {
      await request('refuse', { gid, epoch, reason: reason.slice(0, 200) })
    },
    async fetch(gid, part) {
      if ('data' in part) {
        const bytes = fromBase64(part.data)
        if (bytes === undefined) throw new ChatError('BAD_KEYS', `${gid}: a key change is not base64`)
        return bytes
      }
      const link = await request('download', { gid, key: part.key })
      const response = await fetch(link.url).catch((error: unknown) => {
        throw new ChatError('DOWNLOAD_FAILED', `${gid}: a key change did not download: ${String(error)}`)
      })
      if (!response.ok)
        throw new ChatError('DOWNLOAD_FAILED', `${gid}: a key change was answered ${response.status}`)
      return new Uint8Array(await response.arrayBuffer())
    },
    async publish(device, packages) {
      return (await request('keys', { device, packages })).available
    },
  }
}

/** The commit's parts, inline while they fit one frame (one part's limit in all), the rest uploaded. */
export async function placeParts(
  request: Request,
  gid: string,
  made: CommitParts,
): Promise<{ commit: MlsBytes; welcome?: MlsBytes; info: MlsBytes }> {
  let budget = limits.mlsInlineChars
  const place = async (bytes: Uint8Array): Promise<MlsBytes> => {
    const data = toBase64(bytes)
    if (data.length <= budget) {
      budget -= data.length
      return { data }
    }
    const upload = await request('attachment', { gid, size: bytes.byteLength })
    await putUpload(upload, new Uint8Array(bytes), 'key change')
    return { key: upload.key }
  }
  const commit = await place(made.commit)
  const welcome = made.welcome && (await place(made.welcome))
  const info = await place(made.info)
  return { commit, ...(welcome && { welcome }), info }
}
