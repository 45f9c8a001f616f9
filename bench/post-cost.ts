import { spawn } from 'node:child_process'
import { once } from 'node:events'
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi'
import { SignedPostSender } from '../lambdas/adapters/management-api.js'
import { forEachLimited } from '../lambdas/core/concurrency.js'
import type { EventSender } from '../lambdas/core/ports.js'
import { emulatorClientConfig } from '../local/emulators.js'
import { quantile, round } from './stats.js'

// A management endpoint that accepts every post and does nothing, in its own process, so that only
// the sending side's CPU is counted here.
const sinkScript = `
const server = require('node:http').createServer((request, response) => {
  request.resume()
  request.on('end', () => response.writeHead(200).end())
})
server.listen(0, '127.0.0.1', () => console.log(server.address().port))`

/** The do-nothing endpoint, running in a child process. */
export async function startSink(): Promise<{ endpoint: string; stop(): void }> {
  const sink = spawn(process.execPath, ['-e', sinkScript], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [port] = (await once(sink.stdout, 'data')) as [Buffer]
  return { endpoint: `http://127.0.0.1:${port.toString().trim()}`, stop: () => sink.kill() }
}

export type PostTarget = 'lean' | 'sdk'

const encoder = new TextEncoder()

/** One PostToConnection through the SDK client; a gone connection answers 'gone' as the lean sender's. */
async function sdkPost(client: ApiGatewayManagementApiClient, id: string, data: string) {
  try {
    await client.send(new PostToConnectionCommand({ ConnectionId: id, Data: encoder.encode(data) }))
    return 'sent' as const
  } catch (error) {
    if ((error as Error).name === 'GoneException') return 'gone' as const
    throw error
  }
}

/**
 * Both senders against one endpoint: `lean`, the one the functions use (environment.ts builds it the
 * same way), and `sdk`, the plain SDK client, as the functions posted before.
 */
export function postSenders(endpoint: string): Record<PostTarget, EventSender> & { close(): void } {
  const client = new ApiGatewayManagementApiClient({ ...emulatorClientConfig, endpoint })
  const lean = new SignedPostSender({
    endpoint,
    region: emulatorClientConfig.region,
    credentials: async () => emulatorClientConfig.credentials,
  })
  return {
    lean,
    sdk: { send: (id, data) => sdkPost(client, id, data) },
    close: () => {
      client.destroy()
      lean.close()
    },
  }
}

/** CPU per post of the sender the functions use (lean) and of the plain SDK client, measured together. */
export interface PostCpu {
  leanMs: number
  sdkMs: number
  /** lean over SDK. */
  ratio: number
}

/**
 * CPU the sending process spends per PostToConnection (signing, HTTP, and for the SDK its middleware),
 * with Chat's concurrency, for both senders in the same run: rounds alternate between them, so that a
 * busy patch of the machine weighs on both alike.
 */
export async function measurePostCpu(posts: number, concurrency: number): Promise<PostCpu> {
  const sink = await startSink()
  const senders = postSenders(sink.endpoint)
  try {
    const data = JSON.stringify({ type: 'chat.message', gid: 'g', iss: 'i', jti: 'j', body: 'x'.repeat(100) })
    // Ids like API Gateway's, with the '=' that the path must encode.
    const ids = Array.from({ length: posts }, (_, i) => `Kx${String(i).padStart(10, '0')}=`)
    const measureOnce = async (sender: EventSender) => {
      const before = process.cpuUsage()
      await forEachLimited(ids, concurrency, async (id) => {
        await sender.send(id, data)
      })
      const used = process.cpuUsage(before)
      return (used.user + used.system) / 1000 / posts
    }
    const samples: Record<PostTarget, number[]> = { lean: [], sdk: [] }
    // Warm-up: JIT, sockets, credentials, signing keys.
    await measureOnce(senders.sdk)
    await measureOnce(senders.lean)
    for (let pass = 0; pass < 5; pass++) {
      for (const target of pass % 2 === 0 ? (['sdk', 'lean'] as const) : (['lean', 'sdk'] as const))
        samples[target].push(await measureOnce(senders[target]))
    }
    const leanMs = quantile(samples.lean, 0.5)
    const sdkMs = quantile(samples.sdk, 0.5)
    return { leanMs: round(leanMs, 3), sdkMs: round(sdkMs, 3), ratio: round(leanMs / sdkMs, 2) }
  } finally {
    senders.close()
    sink.stop()
  }
}
