/** Everything a deployment may vary; read from CDK context (`-c key=value` or cdk.json). */
export interface HuddleConfig {
  jwksUrl: string
  jwtIssuer: string
  jwtAudience: string
  stageName: string
  throttleRate: number
  throttleBurst: number
  removalPolicy: 'retain' | 'destroy'
  alarmEmail?: string
  corsOrigins: string[]
  /** Days a group's events (messages, joins, leaves, edits, deletes) are kept before DynamoDB's TTL removes them. */
  messageRetentionDays: number
  /** Set API Gateway's account-wide CloudWatch role, which WebSocket access logging needs. */
  apiGatewayLogsRole: boolean
}

/** Values for a plain `cdk synth`; a deployment with them refuses every token. */
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

/** Parses and validates the CDK context; CLI values arrive as strings, cdk.json values may be typed. */
export function readHuddleConfig(context: ContextReader): ConfigResult {
  const problems: string[] = []
  const warnings: string[] = []

  const text = (key: string): string | undefined => {
    const value = context(key)
    if (value === undefined || value === null || value === '') return undefined
    if (typeof value === 'string') return value.trim()
    problems.push(`${key} must be a string`)
    return undefined
  }

  const positiveNumber = (key: string, fallback: number, integer: boolean): number => {
    const raw = context(key)
    if (raw === undefined || raw === null || raw === '') return fallback
    // Number(true) is 1 and Number([30]) is 30: only numbers and strings count as numbers here.
    const value = typeof raw === 'number' || typeof raw === 'string' ? Number(raw) : Number.NaN
    if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
      problems.push(`${key} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(raw)}`)
      return fallback
    }
    return value
  }

  const jwt = { jwksUrl: text('jwksUrl'), jwtIssuer: text('jwtIssuer'), jwtAudience: text('jwtAudience') }
  const missing = Object.entries(jwt)
    .filter(([, value]) => value === undefined)
    .map(([key]) => key)
  if (missing.length === 3) {
    warnings.push(
      'jwksUrl, jwtIssuer and jwtAudience are not set: using placeholders that reject every token. ' +
        'Pass -c jwksUrl=... -c jwtIssuer=... -c jwtAudience=... before deploying.',
    )
  } else if (missing.length > 0) {
    problems.push(`${missing.join(', ')} must be set together with the other JWT settings`)
  }
  const jwksUrl = jwt.jwksUrl ?? placeholderJwt.jwksUrl
  if (!isHttpsUrl(jwksUrl)) problems.push(`jwksUrl must be an https:// URL, got ${JSON.stringify(jwksUrl)}`)

  const stageName = text('stageName') ?? 'prod'
  if (!/^[A-Za-z0-9-]{1,64}$/.test(stageName)) {
    problems.push(`stageName must be 1-64 letters, digits or hyphens, got ${JSON.stringify(stageName)}`)
  }

  const removalPolicy = text('removalPolicy') ?? 'retain'
  if (removalPolicy !== 'retain' && removalPolicy !== 'destroy') {
    problems.push(`removalPolicy must be 'retain' or 'destroy', got ${JSON.stringify(removalPolicy)}`)
  }

  const alarmEmail = text('alarmEmail')
  if (alarmEmail !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(alarmEmail)) {
    problems.push(`alarmEmail must be an email address, got ${JSON.stringify(alarmEmail)}`)
  }

  const corsOrigins = readList(context('corsOrigins')) ?? ['*']
  if (corsOrigins.length === 0) problems.push('corsOrigins must list at least one origin (or be *)')
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^\s/]+$/.test(origin)) {
      problems.push(`corsOrigins entries must be * or an origin like https://app.example.com, got ${origin}`)
    }
  }

  const logsRole = context('apiGatewayLogsRole')
  if (logsRole !== undefined && ![true, false, 'true', 'false'].includes(logsRole as string | boolean)) {
    problems.push(`apiGatewayLogsRole must be true or false, got ${JSON.stringify(logsRole)}`)
  }

  const config: HuddleConfig = {
    jwksUrl,
    jwtIssuer: jwt.jwtIssuer ?? placeholderJwt.jwtIssuer,
    jwtAudience: jwt.jwtAudience ?? placeholderJwt.jwtAudience,
    stageName,
    throttleRate: positiveNumber('throttleRate', 500, false),
    throttleBurst: positiveNumber('throttleBurst', 1000, true),
    removalPolicy: removalPolicy === 'destroy' ? 'destroy' : 'retain',
    ...(alarmEmail === undefined ? {} : { alarmEmail }),
    corsOrigins,
    messageRetentionDays: positiveNumber('messageRetentionDays', 365, true),
    apiGatewayLogsRole: logsRole !== false && logsRole !== 'false',
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return { config, warnings }
}

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === 'https:'
  } catch {
    return false
  }
}

function readList(value: unknown): string[] | undefined {
  if (value === undefined || value === null || value === '') return undefined
  const items = Array.isArray(value) ? value.map(String) : String(value).split(',')
  return items.map((item) => item.trim()).filter((item) => item.length > 0)
}
