import {
  authorizerSettings,
  chatSettings,
  readSettings,
  type Settings,
  settings,
} from '../lambdas/settings.js'
import { checkSignIn, type UserPoolConfig } from './sign-in-config.js'

export { maxFanOutSliceSize } from '../lambdas/settings.js'
export type { UserPoolConfig } from './sign-in-config.js'

/** What a deployment varies besides the functions' settings: the stage, its throttle, data and alarms. */
export interface DeploymentConfig {
  /** The selected stage: names the API stage and the stack (`Huddle-<stageName>`). */
  stageName: string
  throttleRate: number
  throttleBurst: number
  removalPolicy: 'retain' | 'destroy'
  /** Alarms notify this address through an SNS topic the stack creates. */
  alarmEmail?: string
  /** Alarms notify this existing SNS topic. */
  alarmTopicArn?: string
  corsOrigins: string[]
  /** Write the stage's access logs: API Gateway refuses them until the account and region have its CloudWatch role. */
  accessLogs: boolean
  /** This stack sets API Gateway's CloudWatch role for the whole account and region. */
  apiGatewayLogsRole: boolean
  /**
   * The stack creates a Cognito user pool and fills the authorizer's settings from it: then the JWT settings of
   * this configuration are placeholders that refuse every token, and only `identityClaim` is the real one.
   */
  userPool?: UserPoolConfig
  /** The stack deploys the web chat behind CloudFront. */
  webChat: boolean
  /** With the stage's own provider: the public client the deployed web chat signs in with. */
  signInClientId?: string
}

/** Everything a deployment may vary: the selected stage's settings from cdk.json, with `-c` overrides. */
export type HuddleConfig = DeploymentConfig & Settings

/** A context key that shapes the deployment rather than the functions: its default as shown, and its meaning. */
interface DeploymentKey {
  fallback: string
  doc: string
}

/** How `-c stage=` picks a stage's settings (neither may be set inside a stage). */
export const stageSelectionKeys = {
  stage: {
    fallback: '`prod`',
    doc: 'Which entry of `stages` to deploy; also names the API stage and the stack `Huddle-<stage>` (letters, digits, `-`). Replaces `stageName`, which is refused.',
  },
  stages: {
    fallback: '(cdk.json only)',
    doc: 'Maps stage names to their settings: any key of these tables except `stage` and `stages`.',
  },
} as const satisfies Record<string, DeploymentKey>

/** The keys a stage may set besides the settings table's rows, with their defaults and meaning. */
export const deploymentKeys = {
  allowPlaceholderAuth: {
    fallback: '`false`',
    doc: '`true` lets a throwaway stack synthesize without the JWT settings, with placeholders that refuse every token (prints a warning).',
  },
  throttleRate: { fallback: '`500`', doc: 'Steady-state client frames per second across the stage.' },
  throttleBurst: { fallback: '`1000`', doc: 'Burst of client frames above that rate.' },
  removalPolicy: {
    fallback: '`retain`',
    doc: '`retain` keeps the table (with deletion protection), bucket and logs when the stack is deleted; `destroy` deletes them, including the avatars (for dev stacks).',
  },
  alarmEmail: {
    fallback: '(none)',
    doc: 'Alarms notify this address through an SNS topic the stack creates. **Confirm the subscription e-mail AWS sends.**',
  },
  alarmTopicArn: {
    fallback: '(none)',
    doc: "Alarms notify this existing SNS topic (`arn:aws:sns:<region>:<account>:<name>`); may be combined with `alarmEmail`. Its policy must let `cloudwatch.amazonaws.com` publish: SNS's default policy does, a policy written for the topic may not (the topic `alarmEmail` creates has its own).",
  },
  alarmsWithoutNotification: {
    fallback: '`false`',
    doc: '`true` accepts alarms that notify no one (they still show on the dashboard). Without it, a stage with `removalPolicy=retain` must set `alarmEmail` or `alarmTopicArn`.',
  },
  corsOrigins: {
    fallback: '`*`',
    doc: 'Comma-separated origins allowed to upload avatars from a browser, e.g. `https://app.example.com`. A stage with `removalPolicy=retain` must name them, unless it sets `allowAnyOrigin=true`.',
  },
  allowAnyOrigin: {
    fallback: '`false`',
    doc: '`true` lets a stage with `removalPolicy=retain` keep `corsOrigins=*`, so that web pages on any origin may upload and download through the links it hands out.',
  },
  accessLogs: {
    fallback: '`false` (`true` with `apiGatewayLogsRole`)',
    doc: "`true` writes the stage's access logs, a JSON line per connect, message and disconnect, to a log group kept a month. API Gateway refuses the stage unless the account has its CloudWatch Logs role in this region: [set it once](deployment.md#access-logs-and-api-gateways-logging-role) first.",
  },
  userPool: {
    fallback: '`false`',
    doc: '`true` creates an Amazon Cognito user pool (self sign-up with a user name and password, hosted sign-in pages) and a public app client for the web chat (Authorization Code with PKCE), and fills `jwksUrl`, `jwtIssuer`, `jwtAudience` and `identityClaim` (`cognito:username`) from them: clients send the ID token. A stage that also sets any of those four is refused. [Walk-through](deployment.md#from-cdk-deploy-to-people-chatting).',
  },
  userPoolDomainPrefix: {
    fallback: '`huddle-<stage>-<account id>`',
    doc: 'With `userPool`: the hosted sign-in domain, `https://<prefix>.auth.<region>.amazoncognito.com`, unique in the region: 1-63 lowercase letters, digits and hyphens, without `aws`, `amazon` or `cognito`.',
  },
  signInCallbackUrls: {
    fallback: '(none)',
    doc: 'With `userPool`: comma-separated addresses the pool may send a user back to after sign-in and sign-out, besides the deployed web chat (`webChat`), e.g. `http://localhost:3001/` or `myapp://signed-in`. `http://` only for localhost.',
  },
  webChat: {
    fallback: '`false`',
    doc: "`true` deploys the web chat (the app `npm start` serves) from a private S3 bucket through CloudFront, configured with the stage's WebSocket URL and sign-in settings; its origin is added to the bucket's CORS origins by itself, and `WebChatUrl` is printed.",
  },
  signInClientId: {
    fallback: '(none)',
    doc: 'With your own provider and `webChat`: the public client id (no secret, Authorization Code with PKCE) the web chat signs in with at `jwtIssuer`; it sends the ID token, whose `aud` is this id, so `jwtAudience` must be the same. Without it (and without `userPool`), the web chat only takes a pasted token.',
  },
  apiGatewayLogsRole: {
    fallback: '`false`',
    doc: "`true` makes this stack set API Gateway's CloudWatch Logs role for the whole account and region (`AWS::ApiGateway::Account`), which access logs need. Let one stack per account and region do it, or set the role by CLI instead; deleting the stack leaves the role and the setting in place.",
  },
} as const satisfies Record<string, DeploymentKey>

/** The settings a stage may keep in cdk.json (`context.stages.<stage>`); `-c key=value` overrides any of them. */
export const stageSettingKeys: readonly string[] = [...Object.keys(settings), ...Object.keys(deploymentKeys)]
type StageSettingKey = keyof Settings | keyof typeof deploymentKeys

/** The stage deployed when no `-c stage=` is given. */
export const defaultStage = 'prod'

/** The claim that names a user in a Cognito ID token: the user name, which the pool keeps to Huddle's identities. */
export const cognitoIdentityClaim = 'cognito:username'

/** Values for a throwaway stack (`allowPlaceholderAuth`): a deployment with them refuses every token. */
export const placeholderJwt = {
  jwksUrl: 'https://issuer.example.invalid/.well-known/jwks.json',
  jwtIssuer: 'https://issuer.example.invalid/',
  jwtAudience: 'huddle',
} as const

/** A configuration plus the warnings the CLI should print. */
export interface ConfigResult {
  config: HuddleConfig
  warnings: string[]
}

/** Thrown with every problem in the context at once, so one run shows them all. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid Huddle configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
  }
}

type ContextReader = (key: string) => unknown

const stageNamePattern = /^[A-Za-z0-9-]{1,64}$/
const snsTopicArnPattern = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/

/**
 * Parses and validates the CDK context. `-c stage=<name>` (default `prod`) selects `stages.<name>` from
 * cdk.json; a top-level key (`-c key=value`) wins over the stage's own value. CLI values arrive as
 * strings, cdk.json values may be typed.
 */
export function readHuddleConfig(context: ContextReader): ConfigResult {
  const problems: string[] = []
  const warnings: string[] = []

  if (isSet(context('stageName'))) {
    problems.push(
      'stageName is replaced by stage: pass -c stage=<name> (it also names the stack Huddle-<name>)',
    )
  }
  const stageValue = context('stage')
  const stageName = isSet(stageValue) ? String(stageValue).trim() : defaultStage
  if (!stageNamePattern.test(stageName)) {
    problems.push(`stage must be 1-64 letters, digits or hyphens, got ${JSON.stringify(stageValue)}`)
  }
  const stage = stageSettings(context('stages'), stageName, problems)
  // Without a known stage, every other message would be about the wrong settings.
  if (stage === undefined) throw new ConfigError(problems)
  const setting = (key: StageSettingKey): unknown => {
    const value = context(key)
    return isSet(value) ? value : stage[key]
  }
  const where = `under stages.${stageName} in cdk.json or with -c`

  const text = (key: StageSettingKey): string | undefined => {
    const value = setting(key)
    if (!isSet(value)) return undefined
    if (typeof value === 'string') return value.trim()
    problems.push(`${key} must be a string`)
    return undefined
  }

  const flag = (key: StageSettingKey, fallback: boolean): boolean => {
    const value = setting(key)
    if (!isSet(value)) return fallback
    if (value === true || value === 'true') return true
    if (value === false || value === 'false') return false
    problems.push(`${key} must be true or false, got ${JSON.stringify(value)}`)
    return fallback
  }

  const positiveNumber = (key: StageSettingKey, fallback: number, integer: boolean): number => {
    const raw = setting(key)
    if (!isSet(raw)) return fallback
    // Number(true) is 1 and Number([30]) is 30: only numbers and strings count as numbers here.
    const value = typeof raw === 'number' || typeof raw === 'string' ? Number(raw) : Number.NaN
    if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
      problems.push(`${key} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(raw)}`)
      return fallback
    }
    return value
  }

  const jwtKeys = ['jwksUrl', 'jwtIssuer', 'jwtAudience'] as const
  const missing = jwtKeys.filter((key) => !isSet(setting(key)))
  const allowPlaceholderAuth = flag('allowPlaceholderAuth', false)
  const userPool = flag('userPool', false)
  if (userPool) {
    const own = [...jwtKeys, 'identityClaim' as const].filter((key) => isSet(setting(key)))
    if (own.length > 0) {
      problems.push(
        `stage ${stageName} asks for a user pool (userPool) and also names its own token settings ` +
          `(${own.join(', ')}): the stack fills jwksUrl, jwtIssuer, jwtAudience and identityClaim from the pool. ` +
          `Remove ${own.length === 1 ? 'it' : 'them'} ${where}, or remove userPool to keep your own provider`,
      )
    }
    if (allowPlaceholderAuth) {
      problems.push(
        `stage ${stageName} asks for a user pool (userPool), whose tokens it accepts: remove allowPlaceholderAuth ${where}`,
      )
    }
  } else if (missing.length === 3 && allowPlaceholderAuth) {
    warnings.push(
      `stage ${stageName} uses placeholder JWT settings (allowPlaceholderAuth): every token is refused. ` +
        'Use it for a throwaway stack only.',
    )
  } else if (missing.length > 0) {
    problems.push(
      `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set for stage ${stageName}: ` +
        `set ${missing.length === 1 ? 'it' : 'them'} ${where} (${missing.map((key) => `-c ${key}=…`).join(' ')})` +
        (missing.length === 3
          ? '; a throwaway stack that refuses every token may pass -c allowPlaceholderAuth=true instead, ' +
            'and a stack may create its own issuer with -c userPool=true'
          : ''),
    )
  }
  // Each row's own check, in the table's order; missing token settings are reported above, as placeholders.
  const fromStage = (key: string): unknown => {
    const value = setting(key as StageSettingKey)
    return isSet(value) || !Object.hasOwn(placeholderJwt, key)
      ? value
      : placeholderJwt[key as keyof typeof placeholderJwt]
  }
  const unset = (key: string) => `${key} is not set ${where}`
  const token = readSettings(authorizerSettings, fromStage, (key) => key, unset)
  if (userPool) token.values.identityClaim = cognitoIdentityClaim
  // Deployed, the authorizer fetches the issuer's keys over TLS only (the local stack serves its own over http).
  if (!isHttpsUrl(token.values.jwksUrl)) {
    problems.push(`jwksUrl must be an https:// URL, got ${JSON.stringify(token.values.jwksUrl)}`)
  }
  problems.push(...token.problems)

  const removalPolicy = text('removalPolicy') ?? 'retain'
  if (removalPolicy !== 'retain' && removalPolicy !== 'destroy') {
    problems.push(`removalPolicy must be 'retain' or 'destroy', got ${JSON.stringify(removalPolicy)}`)
  }

  const alarmEmail = text('alarmEmail')
  if (alarmEmail !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(alarmEmail)) {
    problems.push(`alarmEmail must be an email address, got ${JSON.stringify(alarmEmail)}`)
  }
  const alarmTopicArn = text('alarmTopicArn')
  if (alarmTopicArn !== undefined && !snsTopicArnPattern.test(alarmTopicArn)) {
    problems.push(
      `alarmTopicArn must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>), got ${JSON.stringify(alarmTopicArn)}`,
    )
  }
  const notified = alarmEmail !== undefined || alarmTopicArn !== undefined
  const alarmsWithoutNotification = flag('alarmsWithoutNotification', false)
  if (alarmsWithoutNotification && notified) {
    problems.push(
      'alarmsWithoutNotification=true contradicts alarmEmail/alarmTopicArn: keep one or the other',
    )
  } else if (removalPolicy === 'retain' && !notified && !alarmsWithoutNotification) {
    problems.push(
      `stage ${stageName} keeps its data (removalPolicy retain) but its alarms would notify no one: ` +
        `set alarmEmail (an address) or alarmTopicArn (an existing SNS topic) ${where}, ` +
        'or pass -c alarmsWithoutNotification=true to keep the alarms on the dashboard only',
    )
  }

  const webChat = flag('webChat', false)
  // The web chat's own origin is added by the stack, so a stage whose only web app it is names none.
  const corsOrigins = readList(setting('corsOrigins')) ?? (webChat ? [] : ['*'])
  if (corsOrigins.length === 0 && !webChat)
    problems.push('corsOrigins must list at least one origin (or be *)')
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^\s/]+$/.test(origin)) {
      problems.push(`corsOrigins entries must be * or an origin like https://app.example.com, got ${origin}`)
    }
  }
  const allowAnyOrigin = flag('allowAnyOrigin', false)
  if (removalPolicy === 'retain' && corsOrigins.includes('*') && !allowAnyOrigin) {
    problems.push(
      `stage ${stageName} keeps its data (removalPolicy retain) but lets web pages on any origin use its bucket ` +
        `(corsOrigins *, the default): set corsOrigins to your web app's origins, e.g. https://app.example.com, ` +
        `${where}, or pass -c allowAnyOrigin=true to keep *`,
    )
  }

  const signIn = checkSignIn(
    {
      userPool,
      webChat,
      poolKeysSet: (['userPoolDomainPrefix', 'signInCallbackUrls'] as const).filter((key) =>
        isSet(setting(key)),
      ),
      callbackUrls: readList(setting('signInCallbackUrls')) ?? [],
      ...optional('domainPrefix', text('userPoolDomainPrefix')),
      ...optional('signInClientId', text('signInClientId')),
      jwtAudience: token.values.jwtAudience,
      stageName,
      where,
    },
    problems,
  )

  const throttleRate = positiveNumber('throttleRate', 500, false)
  const throttleBurst = positiveNumber('throttleBurst', 1000, true)
  const apiGatewayLogsRole = flag('apiGatewayLogsRole', false)
  // A WebSocket stage's logs need the account's role, so a stack that sets it logs by default.
  const accessLogs = flag('accessLogs', apiGatewayLogsRole)
  const limits = readSettings(chatSettings, fromStage, (key) => key, unset)
  problems.push(...limits.problems)
  const config: HuddleConfig = {
    stageName,
    throttleRate,
    throttleBurst,
    removalPolicy: removalPolicy === 'destroy' ? 'destroy' : 'retain',
    ...(alarmEmail === undefined ? {} : { alarmEmail }),
    ...(alarmTopicArn === undefined ? {} : { alarmTopicArn }),
    corsOrigins,
    ...token.values,
    ...limits.values,
    accessLogs,
    apiGatewayLogsRole,
    ...(signIn.userPool === undefined ? {} : { userPool: signIn.userPool }),
    webChat,
    ...(signIn.signInClientId === undefined ? {} : { signInClientId: signIn.signInClientId }),
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return { config, warnings }
}

/**
 * The selected stage's entry of `stages` (undefined for a stage it does not define); every entry is checked
 * for unknown keys, so a typo anywhere shows.
 */
function stageSettings(
  stages: unknown,
  stageName: string,
  problems: string[],
): Record<string, unknown> | undefined {
  if (!isSet(stages)) return {}
  if (!isRecord(stages)) {
    problems.push('stages must be an object that maps stage names to their settings (set it in cdk.json)')
    return {}
  }
  for (const [name, settings] of Object.entries(stages)) {
    if (!stageNamePattern.test(name)) {
      problems.push(`stages: ${JSON.stringify(name)} is not a stage name (1-64 letters, digits or hyphens)`)
    }
    if (!isRecord(settings)) {
      problems.push(`stages.${name} must be an object of settings`)
      continue
    }
    const unknown = Object.keys(settings).filter(
      (key) => !(stageSettingKeys as readonly string[]).includes(key),
    )
    if (unknown.length > 0) {
      problems.push(
        `stages.${name} has unknown ${unknown.length === 1 ? 'key' : 'keys'} ${unknown.join(', ')}; ` +
          `a stage may set ${stageSettingKeys.join(', ')}`,
      )
    }
  }
  if (!Object.hasOwn(stages, stageName)) {
    const known = Object.keys(stages)
    problems.push(
      `unknown stage ${stageName}: cdk.json's stages ${known.length > 0 ? `are ${known.join(', ')}` : 'is empty'}`,
    )
    return undefined
  }
  const selected = stages[stageName]
  return isRecord(selected) ? selected : {}
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null && value !== ''
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === 'https:'
  } catch {
    return false
  }
}

function optional<K extends string>(key: K, value: string | undefined): { [key in K]?: string } {
  return value === undefined ? {} : ({ [key]: value } as { [key in K]: string })
}

function readList(value: unknown): string[] | undefined {
  if (!isSet(value)) return undefined
  const items = Array.isArray(value) ? value.map(String) : String(value).split(',')
  return items.map((item) => item.trim()).filter((item) => item.length > 0)
}
