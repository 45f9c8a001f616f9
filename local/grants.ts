import { createHash } from 'node:crypto'
import type { RouteAccess } from '../lambdas/routes.js'

/** The account, region and credentials of the local "AWS": the emulators' own (S3rver's built-in) key pair. */
export const localAccount = {
  id: '000000000000',
  region: 'us-east-1',
  /** The developer's own credentials: tests, benchmarks and the local stack itself reach everything with them. */
  admin: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
} as const

export interface Credentials {
  accessKeyId: string
  secretAccessKey: string
}

/**
 * A function's own access key, standing in for its execution role. Derived from its name, so that the S3
 * emulator (which may run in another process) knows the same secret without being told.
 */
export function functionCredentials(name: string): Credentials {
  return {
    accessKeyId: `local-${name}`,
    secretAccessKey: createHash('sha256').update(`huddle-local-function:${name}`).digest('base64url'),
  }
}

/** A local function's ARN, as IAM names it in a grant or a denial. */
export function functionArn(name: string): string {
  return `arn:aws:lambda:${localAccount.region}:${localAccount.id}:function:${name}`
}

/** Who signed a request: the developer (allowed everything) or one function (allowed its access entry). */
export type Principal = { kind: 'admin' } | { kind: 'function'; name: string; access: RouteAccess }

/** An action a principal may not take, named as IAM names it. */
export interface Denial {
  action: string
  resource: string
}

const dynamoReads = new Set(['GetItem', 'BatchGetItem', 'Query', 'ConditionCheckItem'])
const dynamoWrites = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'])
const transactActions: Record<string, string> = {
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  ConditionCheck: 'ConditionCheckItem',
  Get: 'GetItem',
}
/** Query parameters that make an object request another action than Get/Put/Delete (acl, tagging…). */
const objectSubresources = ['acl', 'tagging', 'torrent', 'legal-hold', 'retention', 'attributes', 'restore']
/** Query parameters that make a bucket request a configuration call rather than a listing. */
const bucketSubresources = [
  'acl',
  'cors',
  'policy',
  'lifecycle',
  'website',
  'versioning',
  'tagging',
  'location',
]

/**
 * What each function (route, authorizer or worker) may do, as the CDK stack grants it from the same route
 * table: DynamoDB actions on the table (reads only for `read`), S3 object actions under the route's key
 * prefixes, ManageConnections, and InvokeFunction on the workers it names. The local proxies, the
 * management API and the Lambda API ask it before they let a request through.
 */
export class Grants {
  private readonly functions = new Map<string, { name: string; access: RouteAccess; secret: string }>()

  constructor(
    functions: readonly { name: string; access: RouteAccess }[],
    private readonly resources: { table?: string; bucket?: string },
  ) {
    for (const { name, access } of functions) {
      const { accessKeyId, secretAccessKey } = functionCredentials(name)
      this.functions.set(accessKeyId, { name, access, secret: secretAccessKey })
    }
  }

  /** The secret a SigV4 verifier needs for an access key; undefined for a key nobody was given. */
  secretOf(accessKeyId: string): string | undefined {
    if (accessKeyId === localAccount.admin.accessKeyId) return localAccount.admin.secretAccessKey
    return this.functions.get(accessKeyId)?.secret
  }

  principalOf(accessKeyId: string): Principal | undefined {
    if (accessKeyId === localAccount.admin.accessKeyId) return { kind: 'admin' }
    const fn = this.functions.get(accessKeyId)
    return fn && { kind: 'function', name: fn.name, access: fn.access }
  }

  /** A DynamoDB call (`operation` from X-Amz-Target, `input` its JSON body); each item of a transaction counts. */
  dynamo(principal: Principal, operation: string, input: DynamoInput): Denial | undefined {
    if (principal.kind === 'admin') return undefined
    const grant = principal.access.table
    for (const { action, table, index } of dynamoActions(operation, input)) {
      const allowed =
        grant !== undefined &&
        table === this.resources.table &&
        (dynamoReads.has(action) || (grant === 'readWrite' && dynamoWrites.has(action)))
      if (!allowed) {
        const name = table ?? '*'
        const arn = `arn:aws:dynamodb:${localAccount.region}:${localAccount.id}:table/${name}`
        return { action: `dynamodb:${action}`, resource: index ? `${arn}/index/${index}` : arn }
      }
    }
    return undefined
  }

  /** An S3 request (path style: /bucket/key?query), judged by the route's read, write and delete prefixes. */
  s3(principal: Principal, method: string, url: URL, headers: Record<string, unknown>): Denial | undefined {
    if (principal.kind === 'admin') return undefined
    const read = principal.access.bucket?.read ?? []
    const write = principal.access.bucket?.write ?? []
    const deletes = principal.access.bucket?.delete ?? []
    const [bucket = '', ...rest] = url.pathname.slice(1).split('/')
    const key = decodeKey(rest.join('/'))
    const object = (k: string) => `arn:aws:s3:::${bucket}/${k}`
    const under = (prefixes: readonly string[], k: string | undefined) =>
      bucket === this.resources.bucket && k !== undefined && prefixes.some((prefix) => k.startsWith(prefix))

    if (bucket === '') return { action: 's3:ListAllMyBuckets', resource: '*' }
    if (rest.length === 0 || rest.join('/') === '') {
      // Bucket-level: only listing, and only under a read prefix (the grant's s3:prefix condition).
      const configuration = [...url.searchParams.keys()].find((name) => bucketSubresources.includes(name))
      const listing = (method === 'GET' || method === 'HEAD') && configuration === undefined
      if (listing && under(read, url.searchParams.get('prefix') ?? '')) return undefined
      const action = listing
        ? 'ListBucket'
        : method === 'POST'
          ? 'DeleteObject'
          : `${method === 'GET' ? 'Get' : method === 'DELETE' ? 'Delete' : 'Put'}Bucket${pascal(configuration ?? '')}`
      return { action: `s3:${action}`, resource: `arn:aws:s3:::${bucket}` }
    }
    const resource = object(key ?? rest.join('/'))
    const copySource = headers['x-amz-copy-source']
    const subresource = pascal(
      [...url.searchParams.keys()].find((name) => objectSubresources.includes(name)) ?? '',
    )
    switch (method) {
      case 'GET':
      case 'HEAD':
        if (subresource) return { action: `s3:GetObject${subresource}`, resource }
        return under(read, key) ? undefined : { action: 's3:GetObject', resource }
      case 'PUT': {
        if (subresource) return { action: `s3:PutObject${subresource}`, resource }
        if (!under(write, key)) return { action: 's3:PutObject', resource }
        if (typeof copySource !== 'string') return undefined
        const source = parseCopySource(copySource)
        const readable = source?.bucket === bucket && under(read, source.key)
        return readable ? undefined : { action: 's3:GetObject', resource: object(source?.key ?? copySource) }
      }
      case 'POST':
        // Multipart uploads write the object; nothing else is granted.
        if (hasAny(url, ['uploads', 'uploadId']) && under(write, key)) return undefined
        return { action: 's3:PutObject', resource }
      default:
        if (hasAny(url, ['uploadId'])) return { action: 's3:AbortMultipartUpload', resource }
        return method === 'DELETE' && !subresource && under(deletes, key)
          ? undefined
          : { action: 's3:DeleteObject', resource }
    }
  }

  /** A management API call (@connections): only functions granted `connections`. */
  manageConnections(principal: Principal, resource: string): Denial | undefined {
    if (principal.kind === 'admin' || principal.access.connections) return undefined
    return { action: 'execute-api:ManageConnections', resource }
  }

  /** An Invoke call (the Lambda API): only of the workers the function's access names. */
  invokeFunction(principal: Principal, functionName: string): Denial | undefined {
    if (principal.kind === 'admin' || principal.access.invoke?.includes(functionName)) return undefined
    return { action: 'lambda:InvokeFunction', resource: functionArn(functionName) }
  }

  /** A SendMessage call (the SQS API): only to the queues of the workers the function's access names. */
  sendMessage(principal: Principal, queue: string): Denial | undefined {
    if (principal.kind === 'admin' || principal.access.enqueue?.includes(queue)) return undefined
    return { action: 'sqs:SendMessage', resource: queueArn(queue) }
  }
}

/** A local queue's ARN: each queued worker's queue is named after it. */
export function queueArn(name: string): string {
  return `arn:aws:sqs:${localAccount.region}:${localAccount.id}:${name}`
}

/** The message AWS gives a denied principal. */
export function denialMessage(principal: Principal, denial: Denial): string {
  const who =
    principal.kind === 'admin'
      ? `arn:aws:iam::${localAccount.id}:root`
      : `arn:aws:sts::${localAccount.id}:assumed-role/huddle-${principal.name}/${principal.name}`
  return (
    `User: ${who} is not authorized to perform: ${denial.action} on resource: ${denial.resource} ` +
    `because no identity-based policy allows the ${denial.action} action`
  )
}

/** The parts of a DynamoDB request body that say which tables and items it touches. */
export interface DynamoInput {
  TableName?: unknown
  IndexName?: unknown
  RequestItems?: unknown
  TransactItems?: unknown
}

function dynamoActions(
  operation: string,
  input: DynamoInput,
): { action: string; table: string | undefined; index?: string }[] {
  switch (operation) {
    case 'BatchGetItem':
    case 'BatchWriteItem':
      return Object.keys(isRecord(input.RequestItems) ? input.RequestItems : {}).map((table) => ({
        action: operation,
        table: tableName(table),
      }))
    case 'TransactWriteItems':
    case 'TransactGetItems': {
      const items = Array.isArray(input.TransactItems) ? input.TransactItems : []
      const actions = items.flatMap((item: unknown) =>
        Object.entries(isRecord(item) ? item : {}).map(([kind, body]) => ({
          action: transactActions[kind] ?? kind,
          table: tableName(isRecord(body) ? body.TableName : undefined),
        })),
      )
      return actions.length > 0 ? actions : [{ action: operation, table: undefined }]
    }
    default: {
      const index = typeof input.IndexName === 'string' ? input.IndexName : undefined
      return [{ action: operation, table: tableName(input.TableName), ...(index && { index }) }]
    }
  }
}

/** A table name, or the name inside a table ARN (DynamoDB accepts both). */
function tableName(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  return value.startsWith('arn:') ? value.split(':table/')[1]?.split('/')[0] : value
}

/** A key from the URL path, or undefined when it cannot be one S3 would store under that name. */
function decodeKey(encoded: string): string | undefined {
  try {
    const key = decodeURIComponent(encoded)
    return key.split('/').some((segment) => segment === '.' || segment === '..') ? undefined : key
  } catch {
    return undefined
  }
}

/** `x-amz-copy-source`: "bucket/key" or "/bucket/key", URL-encoded, maybe with "?versionId=…". */
function parseCopySource(header: string): { bucket: string; key: string | undefined } | undefined {
  const [path = ''] = header.replace(/^\//, '').split('?')
  const [bucket, ...rest] = path.split('/')
  return bucket ? { bucket, key: decodeKey(rest.join('/')) } : undefined
}

/** "legal-hold" → "LegalHold", as IAM spells the action. */
function pascal(name: string): string {
  return name.replace(/(^|-)(\w)/g, (_, __, letter: string) => letter.toUpperCase())
}

function hasAny(url: URL, names: readonly string[]): boolean {
  return names.some((name) => url.searchParams.has(name))
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
