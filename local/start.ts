import { startLocalStack } from './stack.js'

// Node 20 is supported here; the SDK's notice about its future Node 22 minimum is noise for a local run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

/** `npm start`: the local stack in one command. */
async function main(): Promise<void> {
  const inMemory = process.argv.includes('--in-memory')
  const port = Number(process.env.PORT ?? 3001)
  const dataDir = inMemory ? undefined : (process.env.HUDDLE_DATA_DIR ?? '.huddle')
  const stack = await startLocalStack({ port, ...(dataDir && { dataDir }), log: (line) => console.log(line) })

  let stopping = false
  const stop = async (code: number) => {
    if (stopping) return
    stopping = true
    console.log('\nstopping…')
    await stack.stop().catch((error) => console.error(error))
    process.exit(code)
  }
  process.on('SIGINT', () => void stop(0))
  process.on('SIGTERM', () => void stop(0))
  process.on('uncaughtException', (error) => {
    console.error(error)
    void stop(1)
  })

  const ws = stack.url.replace('http', 'ws')
  console.log(`
Huddle is running locally${dataDir ? ` (data in ${dataDir}/)` : ' (in memory)'}.

  WebSocket   ${ws}/?token=<JWT>
  Token       curl -s -X POST ${stack.url}/dev/token -d '{"sub":"alice"}'
  Connect     npx wscat -c "${ws}/?token=$(curl -s -X POST ${stack.url}/dev/token -d '{"sub":"alice"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')"
  Health      ${stack.url}/health

Ctrl-C stops it.`)
}

main().catch((error) => {
  console.error(`Huddle could not start: ${error instanceof Error ? error.message : error}`)
  if (String(error).includes('EADDRINUSE'))
    console.error('The port is taken: set PORT to another one (PORT=3002 npm start).')
  process.exit(1)
})
