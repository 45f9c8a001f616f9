/**
 * `npm run smoke`: the check to run after `cdk deploy`. Two test users drive the deployed API through the SDK
 * as an app would (connect, invite with an avatar, join, messages both ways, history, an attachment, an
 * encrypted group, leave); then one of the stack's alarms is set to ALARM and its action's history read.
 * Each step prints one line, and a failed step says what to check, then exits 1.
 *
 *   npm run smoke -- --stage <stage> [--region <region>] --token-a <JWT> --token-b <JWT>
 *   npm run smoke -- --url wss://<api-id>.execute-api.<region>.amazonaws.com/<stage> --token-a <JWT> --token-b <JWT>
 *   npm run smoke -- --url http://localhost:3001          (a local stack: dev tokens are fetched for you)
 *
 * Tokens may come from SMOKE_TOKEN_A and SMOKE_TOKEN_B instead. Each user's identity is read from its token's
 * `sub`; a stack with another `identityClaim` names them with --user-a and --user-b.
 */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { AlarmHistoryItem, CloudWatch, MetricAlarm } from '@aws-sdk/client-cloudwatch'
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

const usage = `usage: npm run smoke -- (--stage <name> [--region <region>] | --url <WebSocketUrl>) [--token-a <JWT> --token-b <JWT>]
  --stage    the deployed stage: its WebSocketUrl is read from the outputs of stack Huddle-<name>, and one of
             its alarms is set to ALARM to check that its action runs (needs AWS credentials)
  --region   the stack's region (default: AWS_REGION or the profile's)
  --url      the stack's WebSocketUrl output (wss://…), or a local stack's address (http://localhost:3001);
             given with --stage, it is used instead of the output
  --alarm    with --url, the name of the alarm to check (needs AWS credentials)
  --token-a, --token-b   JWTs of two test users from the stack's issuer (or SMOKE_TOKEN_A, SMOKE_TOKEN_B);
             against a local address, dev tokens are fetched when none are given
  --user-a, --user-b     their identities, when the stack's identityClaim is not \`sub\`
  --timeout  seconds to wait for each event and for the alarm's action (default 15)`

/** A step that failed, already printed with what it checked, why, and what to do next. */
class StepFailure extends Error {}

/** Options the smoke check cannot run with: the message says which and what to give instead. */
export class UsageError extends Error {}

/** An error that knows what to do about it, which its step prints instead of the step's own advice. */
class Advised extends Error {
  constructor(
    message: string,
    readonly advice: string,
  ) {
    super(message)
  }
}

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
    const next = error instanceof Advised ? error.advice : typeof advice === 'string' ? advice : advice(error)
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

/** What the command line asks for. */
export interface SmokeOptions {
  help: boolean
  url?: string
  stage?: string
  region?: string
  alarm?: string
  tokenA?: string
  tokenB?: string
  userA?: string
  userB?: string
  seconds: number
}

/** Reads the command line (and SMOKE_TOKEN_A, SMOKE_TOKEN_B from `env`); a mistake is a UsageError. */
export function optionsOf(args: string[], env: NodeJS.ProcessEnv): SmokeOptions {
  const { values } = (() => {
    try {
      return parseArgs({
        args,
        options: {
          url: { type: 'string' },
          stage: { type: 'string' },
          region: { type: 'string' },
          alarm: { type: 'string' },
          'token-a': { type: 'string' },
          'token-b': { type: 'string' },
          'user-a': { type: 'string' },
          'user-b': { type: 'string' },
          timeout: { type: 'string', default: '15' },
          help: { type: 'boolean', short: 'h' },
        },
      })
    } catch (error) {
      throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n${usage}`)
    }
  })()
  const tokenA = values['token-a'] ?? env.SMOKE_TOKEN_A
  const tokenB = values['token-b'] ?? env.SMOKE_TOKEN_B
  const userA = values['user-a']
  const userB = values['user-b']
  const options: SmokeOptions = {
    help: values.help === true,
    seconds: Number(values.timeout),
    ...(values.url !== undefined && { url: values.url }),
    ...(values.stage !== undefined && { stage: values.stage }),
    ...(values.region !== undefined && { region: values.region }),
    ...(values.alarm !== undefined && { alarm: values.alarm }),
    ...(tokenA && { tokenA }),
    ...(tokenB && { tokenB }),
    ...(userA && { userA }),
    ...(userB && { userB }),
  }
  if (options.help) return options
  if (options.url === undefined && options.stage === undefined) {
    throw new UsageError(`give --stage or --url\n${usage}`)
  }
  if (options.stage !== undefined && !/^[A-Za-z0-9-]+$/.test(options.stage)) {
    throw new UsageError(
      `--stage ${options.stage}: give the stage's name (letters, digits, -), as in Huddle-<stage>`,
    )
  }
  if (options.url === undefined && !(options.tokenA && options.tokenB)) {
    throw new UsageError(
      'a deployed stage needs two test users: give --token-a and --token-b (or SMOKE_TOKEN_A, SMOKE_TOKEN_B), JWTs from its issuer',
    )
  }
  if (!(options.seconds > 0)) throw new UsageError(`--timeout ${values.timeout}: give seconds, such as 15`)
  return options
}

/** The stack a stage deploys to (bin/app.ts). */
function stackName(stage: string): string {
  return `Huddle-${stage}`
}

/** What to do about an AWS call that failed: sign in, name the region, or deploy. */
const awsAdvice =
  (permissions: string, missing: string) =>
  (error: unknown): string => {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    if (/Region is missing/i.test(text)) return "give the stack's region with --region (or set AWS_REGION)"
    if (/CredentialsProviderError|Could not load credentials/i.test(text)) {
      return `no AWS credentials were found: sign in (aws sso login --profile <p> with AWS_PROFILE=<p>, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) as someone who may call ${permissions}`
    }
    if (/ExpiredToken|security token included in the request is (expired|invalid)/i.test(text)) {
      return 'the AWS credentials expired or are not valid: sign in again'
    }
    if (/AccessDenied|not authorized/i.test(text)) return `these AWS credentials may not call ${permissions}`
    if (/does not exist/i.test(text)) return missing
    return `check the AWS credentials and the region, and that they may call ${permissions}`
  }

/** The stack's WebSocketUrl output, from CloudFormation; its SDK is loaded only here. */
async function webSocketUrlOf(stage: string, region: string | undefined): Promise<string> {
  const { CloudFormation } = await import('@aws-sdk/client-cloudformation')
  const cloudFormation = new CloudFormation(region === undefined ? {} : { region })
  try {
    const { Stacks = [] } = await cloudFormation.describeStacks({ StackName: stackName(stage) })
    const stack = Stacks[0]
    const url = stack?.Outputs?.find((output) => output.OutputKey === 'WebSocketUrl')?.OutputValue
    if (url === undefined) {
      throw new Advised(
        `${stackName(stage)} (${stack?.StackStatus ?? 'no status'}) has no WebSocketUrl output`,
        'its deploy has not finished or failed: read its events in the CloudFormation console, deploy again (npx cdk deploy -c stage=<stage>), or give --url',
      )
    }
    return url
  } finally {
    cloudFormation.destroy()
  }
}

/** The step that reads a stage's WebSocketUrl from its stack's outputs. */
function stageUrlStep(stage: string | undefined, region: string | undefined): Promise<string> {
  if (stage === undefined) throw new UsageError(`give --stage or --url\n${usage}`)
  return step(
    `read the WebSocketUrl output of stack ${stackName(stage)}`,
    awsAdvice(
      'cloudformation:DescribeStacks',
      `no stack ${stackName(stage)} there: deploy it (npx cdk deploy -c stage=${stage}), or give the region it is in with --region`,
    ),
    () => webSocketUrlOf(stage, region),
  )
}

async function main(args: string[]): Promise<void> {
  const options = optionsOf(args, process.env)
  if (options.help) {
    console.log(usage)
    return
  }
  const url = options.url ?? (await stageUrlStep(options.stage, options.region))
  const urls = urlsOf(url)
  const a = userOf('a', options.tokenA, options.userA, urls)
  const b = userOf('b', options.tokenB, options.userB, urls)
  console.log(`smoke check of ${urls.ws} as ${a.sub} and ${b.sub}`)

  const clients: ChatClient[] = []
  try {
    await run(urls, a, b, options.seconds, Boolean(options.tokenA || options.tokenB), clients)
  } finally {
    await Promise.allSettled(clients.map((client) => client.close()))
  }
  await alarmCheck(options, urls)
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

/** The alarm named by --alarm, or those of a stack. */
type AlarmFilter = { AlarmNames: string[] } | { AlarmNamePrefix: string }

/**
 * The alarm path, against a deployed stack only: one of the stack's alarms (CloudFormation names them
 * `Huddle-<stage>-…`), or the one --alarm names, is set to ALARM and its actions' history read.
 */
async function alarmCheck(options: SmokeOptions, urls: Urls): Promise<void> {
  const which: AlarmFilter | undefined =
    options.alarm !== undefined
      ? { AlarmNames: [options.alarm] }
      : options.stage !== undefined
        ? { AlarmNamePrefix: `${stackName(options.stage)}-` }
        : undefined
  if (which === undefined) {
    console.log(
      urls.local
        ? '- alarm step skipped: a local stack has no CloudWatch. Against a deployed stack, --stage <name> (with AWS credentials) sets one of its alarms to ALARM and checks that its action ran'
        : "- alarm step skipped: give --stage <name> (or --alarm <name>) with AWS credentials to set one of the stack's alarms to ALARM and check that its action ran",
    )
    return
  }
  const { CloudWatch } = await import('@aws-sdk/client-cloudwatch')
  const cloudWatch = new CloudWatch(options.region === undefined ? {} : { region: options.region })
  const permissions = 'cloudwatch:DescribeAlarms, SetAlarmState and DescribeAlarmHistory'
  const named = 'AlarmNames' in which ? which.AlarmNames.join(', ') : `${which.AlarmNamePrefix}…`
  try {
    const alarm = await step(
      `found an alarm ${named} with an action, not in ALARM`,
      awsAdvice(permissions, 'check --stage, --alarm and --region'),
      () => alarmToFire(cloudWatch, which, named),
    )
    await step(
      `set ${alarm.AlarmName} to ALARM: its actions ran (${alarm.AlarmActions?.join(', ')}); set it back to OK`,
      awsAdvice(permissions, 'check --stage, --alarm and --region'),
      () => fireAlarm(cloudWatch, alarm.AlarmName ?? named, alarm.AlarmActions?.length ?? 1, options.seconds),
    )
  } finally {
    cloudWatch.destroy()
  }
}

/** An alarm with an action, enabled and not in ALARM (setting an alarm to the state it is in runs nothing). */
async function alarmToFire(cloudWatch: CloudWatch, which: AlarmFilter, named: string): Promise<MetricAlarm> {
  const { MetricAlarms = [] } = await cloudWatch.describeAlarms({
    ...which,
    AlarmTypes: ['MetricAlarm'],
    MaxRecords: 100,
  })
  if (MetricAlarms.length === 0) {
    throw new Advised(
      `no alarm ${named}`,
      "check --stage (or --alarm) and --region: a stack's alarms are named Huddle-<stage>-…",
    )
  }
  const withActions = MetricAlarms.filter((a) => a.ActionsEnabled && (a.AlarmActions?.length ?? 0) > 0)
  if (withActions.length === 0) {
    throw new Advised(
      `none of ${MetricAlarms.length} alarms has an action`,
      'the stage notifies no one: set alarmEmail or alarmTopicArn and deploy again (docs/operations.md)',
    )
  }
  const ready =
    withActions.find((a) => a.StateValue === 'OK') ?? withActions.find((a) => a.StateValue !== 'ALARM')
  if (ready === undefined) {
    throw new Advised(
      'every alarm with an action is in ALARM already',
      'something is failing now: read the dashboard (DashboardUrl) and docs/operations.md, then run the check again',
    )
  }
  return ready
}

/** Sets the alarm to ALARM, waits for its `actions` in the history, and sets it back to OK whatever they did. */
async function fireAlarm(cloudWatch: CloudWatch, AlarmName: string, actions: number, seconds: number) {
  await cloudWatch.setAlarmState({ AlarmName, StateValue: 'ALARM', StateReason: 'huddle smoke' })
  try {
    // CloudWatch's clock for the change, so that a skewed local clock neither misses nor mixes in history.
    const { MetricAlarms = [] } = await cloudWatch.describeAlarms({ AlarmNames: [AlarmName] })
    const since = MetricAlarms[0]?.StateUpdatedTimestamp ?? new Date(Date.now() - 60_000)
    const end = Date.now() + seconds * 1000
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 2000))
      const { AlarmHistoryItems = [] } = await cloudWatch.describeAlarmHistory({
        AlarmName,
        HistoryItemType: 'Action',
        StartDate: since,
      })
      const verdict = actionVerdict(AlarmHistoryItems, actions)
      if (verdict !== undefined && 'failed' in verdict) throw new Advised(verdict.failed, verdict.advice)
      if (verdict !== undefined) return
      if (Date.now() >= end) {
        throw new Advised(
          `no action of ${AlarmName} reported within ${seconds} s`,
          "read the alarm's history in the CloudWatch console, or wait longer with --timeout",
        )
      }
    }
  } finally {
    await cloudWatch.setAlarmState({ AlarmName, StateValue: 'OK', StateReason: 'huddle smoke: back to OK' })
  }
}

/**
 * What an alarm's Action history says after it was set to ALARM: the first failed action and what to do, a
 * pass once each of its `actions` succeeded, or undefined while some have not reported.
 */
export function actionVerdict(
  items: readonly AlarmHistoryItem[],
  actions: number,
): { passed: string } | { failed: string; advice: string } | undefined {
  const outcomes = items.map(outcomeOf)
  const failed = outcomes.find((outcome) => !outcome.succeeded)
  if (failed !== undefined) return { failed: failed.error, advice: actionAdvice(failed.error) }
  if (outcomes.length >= actions) return { passed: outcomes.map((outcome) => outcome.summary).join('; ') }
  return undefined
}

/** One action's outcome, from its history data (`actionState`, `error`), or its summary when that is not JSON. */
function outcomeOf(item: AlarmHistoryItem): { succeeded: boolean; summary: string; error: string } {
  const summary = item.HistorySummary ?? ''
  const data = jsonObject(item.HistoryData)
  const succeeded =
    typeof data.actionState === 'string'
      ? data.actionState === 'Succeeded'
      : summary.startsWith('Successfully')
  return { succeeded, summary, error: typeof data.error === 'string' ? data.error : summary }
}

function jsonObject(text: string | undefined): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text ?? '')
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

function actionAdvice(error: string): string {
  if (/SNS:Publish/i.test(error)) {
    return "the alarm topic's policy does not let CloudWatch publish: the topic alarmEmail creates allows it (deploy again); a topic given as alarmTopicArn needs an Allow of sns:Publish for cloudwatch.amazonaws.com (docs/operations.md)"
  }
  if (/KMS/i.test(error)) {
    return "the topic's KMS key does not let CloudWatch use it: allow cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey* on the key"
  }
  return "read the alarm's history in the CloudWatch console and fix what the failed action names"
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    () => {
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
}
