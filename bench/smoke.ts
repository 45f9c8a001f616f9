/**
 * `npm run smoke`: the check to run after `cdk deploy`. Two test users drive the deployed API through the SDK
 * as an app would (connect, invite with an avatar, join, messages both ways, history, an attachment, an
 * encrypted group, leave); each step prints one line, and a failed step says what to check, then exits 1.
 *
 *   npm run smoke -- --url wss://<api-id>.execute-api.<region>.amazonaws.com/<stage> --token-a <JWT> --token-b <JWT>
 *   npm run smoke -- --url http://localhost:3001          (a local stack: dev tokens are fetched for you)
 *
 * Tokens may come from SMOKE_TOKEN_A and SMOKE_TOKEN_B instead. Each user's identity is read from its token's
 * `sub`; a stack with another `identityClaim` names them with --user-a and --user-b.
 */
import { parseArgs } from 'node:util'
import {
  type ChatClient,
  type ChatGroup,
  type ChatMessage,
  ChatClient as Client,
  memoryEncryptionStore,
} from '@huddle/client'
import { decodeJwt } from 'jose'
import { solidPng } from '../examples/support.js'
import { fetchDevToken } from '../local/dev-tokens.js'

const usage = `usage: npm run smoke -- --url <WebSocketUrl> [--token-a <JWT> --token-b <JWT>] [--user-a <id> --user-b <id>]
  --url      the stack's WebSocketUrl output (wss://…), or a local stack's address (http://localhost:3001)
  --token-a, --token-b   JWTs of two test users from the stack's issuer (or SMOKE_TOKEN_A, SMOKE_TOKEN_B);
             against a local address, dev tokens are fetched when none are given
  --user-a, --user-b     their identities, when the stack's identityClaim is not \`sub\`
  --timeout  seconds to wait for each event (default 15)
--stage is not supported here: @aws-sdk/client-cloudformation is not installed, so copy the WebSocketUrl
output (\`aws cloudformation describe-stacks --stack-name Huddle-<stage>\`) into --url. The alarm step needs
@aws-sdk/client-cloudwatch, which is not installed either: it is skipped, and says how to check it by hand.`

/** A step that failed, already printed with what it checked, why, and what to do next. */
class StepFailure extends Error {}

/** Options the smoke check cannot run with: the message says which and what to give instead. */
class UsageError extends Error {}

let stepsPassed = 0

/** Runs one check, printing ✓ and what it checked, or ✗, what failed and the advice, and then exits 1. */
async function step<T>(
  checked: string,
  advice: string | ((error: unknown) => string),
  run: () => Promise<T>,
) {
  try {
    const result = await run()
    console.log(`✓ ${checked}`)
    stepsPassed++
    return result
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error)
    const next = typeof advice === 'string' ? advice : advice(error)
    console.log(`✗ ${checked}: FAILED (${why})`)
    console.log(`  → ${next}`)
    throw new StepFailure(checked)
  }
}

/** Resolves with the first value `find` returns, checked on every event and every 50 ms, within `seconds`. */
async function eventually<T>(seconds: number, what: string, find: () => T | undefined): Promise<T> {
  const end = Date.now() + seconds * 1000
  for (;;) {
    const found = find()
    if (found !== undefined) return found
    if (Date.now() >= end) throw new Error(`${what} did not arrive within ${seconds} s`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

interface Urls {
  ws: string
  http: string
  local: boolean
}

function urlsOf(given: string): Urls {
  const url = URL.canParse(given) ? new URL(given) : undefined
  const secure = url && /^(?:http|ws)(s?):$/.exec(url.protocol)?.[1]
  if (!url || secure === undefined || url.search || url.hash) {
    throw new UsageError(
      `--url ${given} is not a ws(s):// or http(s):// address: give the stack's WebSocketUrl`,
    )
  }
  const rest = `${url.host}${url.pathname.replace(/\/+$/, '')}`
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
  return { ws: `ws${secure}://${rest}`, http: `http${secure}://${rest}`, local }
}

/** A test user: its identity, and where its token comes from. */
interface User {
  sub: string
  token: () => Promise<string>
}

function userOf(label: string, token: string | undefined, named: string | undefined, urls: Urls): User {
  if (token) {
    let sub = named
    if (!sub) {
      const claims = (() => {
        try {
          return decodeJwt(token)
        } catch {
          throw new UsageError(`--token-${label} is not a JWT: give an ID token from the stack's issuer`)
        }
      })()
      sub = claims.sub
      if (!sub) throw new UsageError(`--token-${label} has no sub: name the user with --user-${label}`)
    }
    return { sub, token: async () => token }
  }
  if (!urls.local) {
    throw new UsageError(
      `no token for user ${label}: give --token-${label} (or SMOKE_TOKEN_${label.toUpperCase()}), a JWT from the stack's issuer`,
    )
  }
  const sub = named ?? `smoke-${label}-${crypto.randomUUID().slice(0, 8)}`
  return { sub, token: () => fetchDevToken(urls.http, sub) }
}

const connectAdvice = (urls: Urls, hasTokens: boolean) => (error: unknown) => {
  const message = error instanceof Error ? error.message : ''
  if (/\b401\b|\b403\b/.test(message)) {
    return hasTokens
      ? "the authorizer refused the token: check it is unexpired and that the stage's jwksUrl, jwtIssuer and jwtAudience match its issuer (docs/deployment.md#prerequisites); for Cognito send the ID token"
      : 'the local stack refused its own dev token: is another program on that port?'
  }
  if (message.includes('cannot reach')) {
    return `nothing answers at ${urls.http}: start the local stack with \`npm start\` (it prints its address), or check --url`
  }
  if (message.includes('/dev/token')) {
    return `${urls.http} gives no dev tokens: is \`npm start\` running there? For a deployed stack give --token-a and --token-b`
  }
  return `nothing accepted a WebSocket at ${urls.ws}: check --url against the stack's WebSocketUrl output (wss://…/<stage>), or that \`npm start\` runs there`
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      stage: { type: 'string' },
      'token-a': { type: 'string' },
      'token-b': { type: 'string' },
      'user-a': { type: 'string' },
      'user-b': { type: 'string' },
      timeout: { type: 'string', default: '15' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log(usage)
    return
  }
  if (values.stage !== undefined) {
    throw new UsageError(
      `--stage needs @aws-sdk/client-cloudformation, which is not installed: give the stack's WebSocketUrl output with --url (aws cloudformation describe-stacks --stack-name Huddle-${values.stage} --query "Stacks[0].Outputs")`,
    )
  }
  if (!values.url) throw new UsageError(`give --url\n${usage}`)
  const seconds = Number(values.timeout)
  if (!(seconds > 0)) throw new UsageError(`--timeout ${values.timeout}: give seconds, such as 15`)
  const urls = urlsOf(values.url)
  const tokenA = values['token-a'] ?? process.env.SMOKE_TOKEN_A
  const tokenB = values['token-b'] ?? process.env.SMOKE_TOKEN_B
  const a = userOf('a', tokenA, values['user-a'], urls)
  const b = userOf('b', tokenB, values['user-b'], urls)
  console.log(`smoke check of ${urls.ws} as ${a.sub} and ${b.sub}`)

  const clients: ChatClient[] = []
  try {
    await run(urls, a, b, seconds, Boolean(tokenA || tokenB), clients)
  } finally {
    await Promise.allSettled(clients.map((client) => client.close()))
  }
}

async function run(urls: Urls, a: User, b: User, seconds: number, hasTokens: boolean, clients: ChatClient[]) {
  // Both devices keep encryption keys in memory, so that the encrypted group's step needs no files.
  const connect = (user: User) =>
    Client.connect(urls.ws, { token: user.token, encryption: { store: memoryEncryptionStore() } }).then(
      (client) => {
        clients.push(client)
        return client
      },
    )
  const [alice, bob] = await step(
    `connected both users to ${urls.ws} (the authorizer accepted their tokens)`,
    connectAdvice(urls, hasTokens),
    () => Promise.all([connect(a), connect(b)]),
  )
  const messages: ChatMessage[] = []
  const invites: ChatGroup[] = []
  const joins: string[] = []
  const leaves: string[] = []
  for (const client of [alice, bob]) {
    client.chat().onMessage((message) => messages.push(message))
    client.chat().onJoin((iss, gid) => joins.push(`${iss} ${gid}`))
    client.chat().onLeave((iss, gid) => leaves.push(`${iss} ${gid}`))
  }
  bob.chat().onInvite((group) => invites.push(group))
  const functionsAdvice =
    'the route function failed: read its log group (/aws/lambda/Huddle-<stage>-…) and the InternalErrors alarm (docs/operations.md)'

  const gid = `smoke-${crypto.randomUUID().slice(0, 8)}`
  const avatar = solidPng(16, [46, 139, 87])
  const group = await step(
    `${a.sub} invited ${b.sub} to ${gid} with an avatar (uploaded to the bucket through a presigned link)`,
    (error) =>
      /upload/i.test(String(error))
        ? 'the avatar upload failed: check the bucket CORS (corsOrigins) and that the avatar function may write uploads/ (docs/deployment.md)'
        : functionsAdvice,
    async () => {
      const created = await alice.chat().invite(gid, 'Smoke check', [b.sub], avatar)
      if (!created.image) throw new Error('the group came back without its avatar')
      return created
    },
  )
  await step(
    'downloaded the avatar from its presigned link: the same bytes',
    'the avatar link failed: check the bucket CORS and that the function serving links may read avatars/',
    async () => {
      const response = await fetch(group.image?.url ?? '')
      if (!response.ok) throw new Error(`the link answered ${response.status}`)
      const bytes = Buffer.from(await response.arrayBuffer())
      if (!bytes.equals(avatar.data)) throw new Error('the bytes differ from the uploaded avatar')
    },
  )
  const bobs = await step(
    `${b.sub} was handed the invite and joined; ${a.sub} saw the join`,
    `the invite or join event did not reach a connection: check the management API (CallbackUrl) grants and the fan-out worker's log; ${functionsAdvice}`,
    async () => {
      const invite = await eventually(seconds, 'the invite', () => invites.find((g) => g.gid === gid))
      await invite.join()
      await eventually(seconds, `${b.sub}'s join event`, () =>
        joins.includes(`${b.sub} ${gid}`) ? true : undefined,
      )
      return invite
    },
  )
  const hello = `hello from ${a.sub} ${crypto.randomUUID().slice(0, 8)}`
  const reply = `hello back from ${b.sub} ${crypto.randomUUID().slice(0, 8)}`
  await step(
    `a message each way: ${a.sub} → ${b.sub} and ${b.sub} → ${a.sub}`,
    `a message was acknowledged but not delivered: check the fan-out worker's log and its on-failure queue; ${functionsAdvice}`,
    async () => {
      await group.message(hello)
      await eventually(seconds, `${b.sub}'s copy of the message`, () =>
        messages.find((m) => m.body === hello),
      )
      await bobs.message(reply)
      await eventually(seconds, `${a.sub}'s copy of the reply`, () => messages.find((m) => m.body === reply))
    },
  )
  await step('history holds both messages, newest first', functionsAdvice, async () => {
    const bodies = (await group.history()).events.flatMap((e) => (e.type === 'chat.message' ? [e.body] : []))
    if (bodies[0] !== reply || bodies[1] !== hello) throw new Error(`history held ${JSON.stringify(bodies)}`)
  })
  const file = new Uint8Array(crypto.getRandomValues(new Uint8Array(20_000)))
  const caption = `a file from ${a.sub} ${crypto.randomUUID().slice(0, 8)}`
  await step(
    `an attachment: uploaded by ${a.sub}, downloaded and decrypted by ${b.sub}, the same bytes`,
    'the upload or download failed: check the bucket CORS (corsOrigins), its uploads/ grants and that presigned links work (docs/deployment.md)',
    async () => {
      await group.message(caption, {
        attachments: [{ name: 'smoke.bin', mime: 'application/octet-stream', data: file }],
      })
      const received = await eventually(seconds, `${b.sub}'s copy`, () =>
        messages.find((m) => m.body === caption),
      )
      const [attachment] = received.attachments
      if (!attachment) throw new Error('the message came without its attachment')
      const bytes = await attachment.download()
      if (!Buffer.from(bytes).equals(Buffer.from(file))) throw new Error('the downloaded file differs')
    },
  )

  const sealed = `smoke-e2e-${crypto.randomUUID().slice(0, 8)}`
  const mlsAdvice =
    'an MLS step failed: check the keyPackage, commit and roster routes in the function logs; the SDK reports the code it got'
  const [sealedA, sealedB] = await step(
    `an encrypted group: ${a.sub} created ${sealed}, ${b.sub} joined, both devices are in its roster`,
    mlsAdvice,
    async () => {
      // Each device publishes its key packages on its first catch-up, so that it can be added.
      await Promise.all([alice.chat().catchUp(), bob.chat().catchUp()])
      const created = await alice.chat().invite(sealed, 'Smoke check (encrypted)', [b.sub], undefined, {
        encrypted: true,
      })
      const joined = await bob.chat().join(sealed)
      const end = Date.now() + seconds * 1000
      for (;;) {
        const roster = await alice.request('roster', { gid: sealed })
        if (roster.missing.length === 0 && roster.stale.length === 0 && roster.leaves.length === 2) break
        if (Date.now() >= end) throw new Error(`the roster still lacks a device after ${seconds} s`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      return [created, joined] as const
    },
  )
  const secretA = `sealed hello ${crypto.randomUUID().slice(0, 8)}`
  const secretB = `sealed reply ${crypto.randomUUID().slice(0, 8)}`
  await step(`an encrypted message each way, each decrypted by the other`, mlsAdvice, async () => {
    await sealedA.message(secretA)
    await eventually(seconds, `${b.sub}'s decrypted copy`, () =>
      messages.find((m) => m.body === secretA && !m.unreadable),
    )
    await sealedB.message(secretB)
    await eventually(seconds, `${a.sub}'s decrypted copy`, () =>
      messages.find((m) => m.body === secretB && !m.unreadable),
    )
  })
  await step(`${b.sub} left both groups; ${a.sub} saw the leave`, functionsAdvice, async () => {
    await bobs.leave()
    await sealedB.leave()
    await eventually(seconds, 'the leave event', () =>
      leaves.includes(`${b.sub} ${gid}`) ? true : undefined,
    )
  })
}

/** The alarm path needs CloudWatch's SDK and AWS credentials; this one says so, and how to check by hand. */
function alarmStep(): void {
  console.log(
    '- alarm step skipped: @aws-sdk/client-cloudwatch is not installed and no --stage was given. By hand: ' +
      "aws cloudwatch set-alarm-state --alarm-name <one of the stack's alarms> --state-value ALARM --state-reason smoke, " +
      'then aws cloudwatch describe-alarm-history --alarm-name <it> --history-item-type Action: ' +
      '"not authorized to perform: SNS:Publish" means the alarm topic\'s policy does not allow CloudWatch',
  )
}

main().then(
  () => {
    alarmStep()
    console.log(`smoke check passed: ${stepsPassed} steps`)
    process.exit(0)
  },
  (error: unknown) => {
    if (error instanceof UsageError) console.error(`smoke: ${error.message}`)
    else if (!(error instanceof StepFailure)) console.error(error)
    console.log(`smoke check FAILED after ${stepsPassed} steps`)
    process.exit(1)
  },
)
