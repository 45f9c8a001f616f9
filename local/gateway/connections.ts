import type { WebSocket } from 'ws'

/** An open WebSocket and what API Gateway knows of it. */
export interface OpenConnection {
  socket: WebSocket
  sub: string
  connectedAt: number
  lastActiveAt: number
  sourceIp: string
  userAgent?: string
}

/** Posts to a connection whose data contains `containing` fail with `status` (/dev/fail-posts). */
export interface PostFault {
  connectionId: string
  containing: string
  status: number
}

/** The open connections by id, and the posts to them that fail on purpose. */
export class Connections {
  private readonly open = new Map<string, OpenConnection>()
  private readonly postFaults: PostFault[] = []

  get(id: string): OpenConnection | undefined {
    return this.open.get(id)
  }

  add(id: string, connection: OpenConnection): void {
    this.open.set(id, connection)
  }

  delete(id: string): void {
    this.open.delete(id)
  }

  /** The ids of `sub`'s open connections. */
  idsOf(sub: string | null): string[] {
    return [...this.open].filter(([, connection]) => connection.sub === sub).map(([id]) => id)
  }

  /** Makes every later post that matches `fault` fail, retries included; the connection stays open. */
  failPosts(fault: PostFault): void {
    this.postFaults.push(fault)
  }

  /** The status a post of `text` to connection `id` fails with on purpose, if it should. */
  postFault(id: string, text: string): number | undefined {
    return this.postFaults.find((f) => f.connectionId === id && text.includes(f.containing))?.status
  }

  /** Ends every connection at once; resolves when each has closed (their $disconnect is then on its way). */
  async terminateAll(): Promise<void> {
    await Promise.all(
      [...this.open.values()].map(({ socket }) => {
        const closed = new Promise((done) => socket.once('close', done))
        socket.terminate()
        return closed
      }),
    )
  }
}
