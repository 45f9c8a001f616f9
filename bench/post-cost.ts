import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi'
import { ManagementApiSender } from '../lambdas/adapters/management-api.js'
import { forEachLimited } from '../lambdas/core/concurrency.js'
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

/** CPU the sending process spends per PostToConnection (SDK, signing, HTTP), with Chat's concurrency. */
export async function measurePostCpu(posts: number, concurrency: number): Promise<number> {
  const sink = spawn(process.execPath, ['-e', sinkScript], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const [port] = (await once(sink.stdout, 'data')) as [Buffer]
    const client = new ApiGatewayManagementApiClient({
      ...emulatorClientConfig,
      endpoint: `http://127.0.0.1:${port.toString().trim()}`,
    })
    const sender = new ManagementApiSender(client)
    const data = JSON.stringify({ type: 'chat.message', gid: 'g', iss: 'i', jti: 'j', body: 'x'.repeat(100) })
    const ids = Array.from({ length: posts }, (_, i) => `connection-${i}`)
    const measureOnce = async () => {
      const before = process.cpuUsage()
      await forEachLimited(ids, concurrency, async (id) => {
        await sender.send(id, data)
      })
      const used = process.cpuUsage(before)
      return (used.user + used.system) / 1000 / posts
    }
    await measureOnce() // warm-up
    const samples = [await measureOnce(), await measureOnce(), await measureOnce()]
    client.destroy()
    return round(quantile(samples, 0.5), 3)
  } finally {
    sink.kill()
  }
}
