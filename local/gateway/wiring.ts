import { envNames } from '../../lambdas/adapters/env-names.js'
import type {
  AuthorizerEvent,
  AuthorizerResult,
  WebSocketEvent,
  WebSocketResult,
} from '../../lambdas/adapters/websocket-event.js'
import {
  authorizer,
  type RouteAccess,
  type RouteDefinition,
  type WorkerDefinition,
} from '../../lambdas/routes.js'
import { authorizerSettings } from '../../lambdas/settings.js'
import { type ProxyBehaviours, startDynamoDbProxy, startS3Proxy } from '../access-proxies.js'
import { awsLikeBehaviours, newCounters } from '../aws-behaviours.js'
import type { DevTokens, explainRefusedToken } from '../dev-tokens.js'
import {
  buildFunctions,
  ConcurrencyLimit,
  type FunctionOutput,
  type Invocation,
  LocalFunction,
  sourceModule,
} from '../functions.js'
import { Grants, localAccount } from '../grants.js'
import { LocalLambdaApi } from '../lambda-api.js'
import { SignatureVerifier } from '../sigv4.js'
import { LocalSqsApi } from '../sqs-api.js'
import { apiId, stage } from './api.js'
import type { Endpoints } from './environment.js'
import { functionEnvironment } from './environment.js'

/** What the gateway expects of a token, to explain a refusal. */
export type ExpectedTokens = Parameters<typeof explainRefusedToken>[1]

/** What the token settings in the functions' environment say a token must carry. */
function expectedTokensIn(environment: Record<string, string>, tokens?: DevTokens): ExpectedTokens {
  const { jwtIssuer, jwtAudience, identityClaim } = authorizerSettings
  return {
    ...(tokens && { jwks: tokens.jwks }),
    ...(environment[jwtIssuer.variable] && { issuer: environment[jwtIssuer.variable] }),
    ...(environment[jwtAudience.variable] && { audience: environment[jwtAudience.variable] }),
    ...(environment[identityClaim.variable] && { identityClaim: environment[identityClaim.variable] }),
  }
}

/**
 * What API Gateway got from a route's function: its result, or why there is none: it threw, crashed or
 * timed out itself (`failed`), the gateway stopped waiting for it (`timed out`, the integration timeout), or
 * Lambda throttled it (`throttled`, the concurrency limit).
 */
export type RouteOutcome =
  | { ok: true; result: WebSocketResult }
  | { ok: false; why: 'failed' | 'timed out' | 'throttled' }

/** The functions the gateway runs, warm, with their grants, the management API's verifier and the Lambda API. */
export class LocalFunctions {
  private readonly inFlight = new Set<Promise<unknown>>()

  constructor(
    private readonly authorizerFunction: LocalFunction<AuthorizerEvent, AuthorizerResult>,
    private readonly routeFunctions: Map<string, LocalFunction<WebSocketEvent, WebSocketResult>>,
    readonly every: LocalFunction<never, unknown>[],
    readonly grants: Grants,
    readonly managementApi: SignatureVerifier,
    readonly lambdaApi: LocalLambdaApi,
    readonly sqsApi: LocalSqsApi,
    readonly expectedTokens: ExpectedTokens,
    private readonly log: (line: string) => void,
    private readonly aws: ProxyBehaviours,
    private readonly concurrency: ConcurrencyLimit,
  ) {}

  /** The authorizer's answer to a $connect with this query and these headers (throttled past the concurrency). */
  authorize(
    query: Record<string, string>,
    headers: Record<string, string | undefined>,
    connectionId: string,
  ): Promise<Invocation<AuthorizerResult>> {
    const release = this.slot('authorizer')
    if (!release) {
      return Promise.resolve({ ok: false, reason: 'crash', message: 'Rate Exceeded. (concurrency limit)' })
    }
    const running = this.track(
      this.authorizerFunction.invoke({
        type: 'REQUEST',
        methodArn: `arn:aws:execute-api:${localAccount.region}:${localAccount.id}:${apiId}/${stage}/$connect`,
        queryStringParameters: query,
        headers,
        requestContext: { routeKey: '$connect', eventType: 'CONNECT', connectionId, apiId, stage },
      }),
    )
    void running.finally(release)
    return running
  }

  /**
   * Runs a route's function as API Gateway integrates it: throttled when every slot of the concurrency
   * limit is taken, and given up after the integration timeout (the function runs on, its reply dropped).
   */
  async invoke(routeKey: string, event: WebSocketEvent): Promise<RouteOutcome> {
    const fn = this.routeFunctions.get(routeKey)
    if (!fn) return { ok: false, why: 'failed' }
    const release = this.slot(routeKey)
    if (!release) return { ok: false, why: 'throttled' }
    const running = this.track(fn.invoke(event)).then((outcome): RouteOutcome => {
      if (outcome.ok) return { ok: true, result: outcome.result }
      if (outcome.reason === 'error')
        this.log(`${routeKey} handler threw: ${outcome.stack ?? outcome.message}`)
      return { ok: false, why: 'failed' }
    })
    void running.finally(release)
    // Nobody waits for $disconnect's answer.
    const cutMs = routeKey === '$disconnect' ? 0 : this.aws.behaviours.integrationTimeoutMs
    if (cutMs <= 0) return running
    let timer: NodeJS.Timeout | undefined
    const cut = new Promise<RouteOutcome>((resolve) => {
      timer = setTimeout(() => {
        this.aws.counters.integrationTimeouts++
        this.log(
          `${routeKey}: no answer within ${cutMs} ms (the integration timeout); its reply will be dropped`,
        )
        resolve({ ok: false, why: 'timed out' })
      }, cutMs)
    })
    try {
      return await Promise.race([running, cut])
    } finally {
      clearTimeout(timer)
    }
  }

  /** A slot of the concurrency limit for one invocation, or undefined (counted, logged) when it is throttled. */
  private slot(name: string): (() => void) | undefined {
    const release = this.concurrency.tryAcquire()
    if (release) return release
    this.aws.counters.throttledInvocations++
    this.log(`${name}: throttled, ${this.concurrency.inUse} invocations running (the concurrency limit)`)
    return undefined
  }

  /** Resolves once the invocations running now (a closing connection's $disconnect, say) have ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight])
  }

  private async track<T>(running: Promise<T>): Promise<T> {
    this.inFlight.add(running)
    try {
      return await running
    } finally {
      this.inFlight.delete(running)
    }
  }
}

/** How to start the functions: the gateway's URL and the route table it serves. */
export interface WiringOptions {
  url: string
  environment: Record<string, string>
  routes: readonly RouteDefinition[]
  workers: readonly WorkerDefinition[]
  /** Dev mode's tokens, whose keys a refused token is explained against. */
  tokens?: DevTokens
  eventRetryDelaysMs?: readonly number[]
  handlerModule?: (handler: string) => string
  log: (line: string) => void
  /** Where the functions' own output goes (the terminal by default). */
  output?: FunctionOutput
  /** The AWS behaviours the access proxies reproduce, and where they count what they injected. */
  aws?: ProxyBehaviours
}

/**
 * Builds and warms every function with the grants the CDK stack gives it, behind the access proxies, and
 * the Lambda and SQS APIs the routes reach workers through; `stop` undoes it all. Every function is loaded before
 * this resolves (as with provisioned concurrency): no request waits for a cold start, and a module that
 * cannot load fails the start with its error.
 */
export async function startFunctions(
  options: WiringOptions,
  endpoints: Endpoints,
): Promise<{ functions: LocalFunctions; stop: () => Promise<void> }> {
  const { url, environment, routes, workers, log } = options
  const grants = new Grants(
    [
      { name: authorizer.handler, access: {} },
      ...routes.map((r) => ({ name: r.handler, access: r.access })),
      ...workers.map((w) => ({ name: w.handler, access: w.access })),
    ],
    {
      ...(environment[envNames.tableName] && { table: environment[envNames.tableName] }),
      ...(environment[envNames.bucketName] && { bucket: environment[envNames.bucketName] }),
    },
  )
  const region = environment.AWS_REGION ?? localAccount.region
  const aws = options.aws ?? { behaviours: awsLikeBehaviours, counters: newCounters() }
  // What starts from here on is stopped, last first.
  const stops: (() => Promise<unknown>)[] = []
  const stop = async () => {
    for (const next of stops.splice(0).reverse()) await next()
  }
  try {
    const dynamo = environment[envNames.dynamoEndpoint]
    if (dynamo) {
      const proxy = await startDynamoDbProxy(dynamo, grants, log, aws)
      stops.push(proxy.close)
      endpoints.dynamo = proxy.endpoint
    }
    const s3 = environment[envNames.s3Endpoint]
    if (s3) {
      const proxy = await startS3Proxy(s3, grants, log, aws)
      stops.push(proxy.close)
      endpoints.s3 = proxy.endpoint
    }

    const moduleOf = options.handlerModule ?? sourceModule
    const modules = new Map(
      [authorizer.handler, ...routes.map((route) => route.handler), ...workers.map((w) => w.handler)].map(
        (name) => [name, moduleOf(name)],
      ),
    )
    const built = await buildFunctions(new Map([...modules].filter(([, module]) => module.endsWith('.ts'))))
    stops.push(built.remove)
    const definition = (name: string, access: RouteAccess | 'authorizer', timeoutSeconds: number) => ({
      name,
      module: built.modules.get(name) ?? (modules.get(name) as string),
      environment: functionEnvironment(name, access, environment, { ...endpoints, lambda: url }),
      timeoutSeconds,
    })
    const authorizerFunction = new LocalFunction<AuthorizerEvent, AuthorizerResult>(
      definition(authorizer.handler, 'authorizer', authorizer.timeoutSeconds),
      log,
      options.output,
    )
    const routeFunctions = new Map(
      routes.map((route) => [
        route.routeKey,
        new LocalFunction<WebSocketEvent, WebSocketResult>(
          definition(route.handler, route.access, route.timeoutSeconds),
          log,
          options.output,
        ),
      ]),
    )
    const workerFunctions = workers.map(
      (worker) =>
        new LocalFunction<unknown, unknown>(
          definition(worker.handler, worker.access, worker.timeoutSeconds),
          log,
          options.output,
        ),
    )
    const every: LocalFunction<never, unknown>[] = [
      authorizerFunction,
      ...routeFunctions.values(),
      ...workerFunctions,
    ]
    stops.push(() => Promise.all(every.map((fn) => fn.close())))
    const concurrency = new ConcurrencyLimit(() => aws.behaviours.concurrency)
    const lambdaApi = new LocalLambdaApi({
      functions: new Map(every.map((fn) => [fn.definition.name, fn as LocalFunction<unknown, unknown>])),
      grants,
      concurrency,
      counters: aws.counters,
      verifier: new SignatureVerifier('lambda', region, (id) => grants.secretOf(id)),
      ...(options.eventRetryDelaysMs && { eventRetryDelaysMs: options.eventRetryDelaysMs }),
      log,
    })
    stops.push(() => lambdaApi.close())
    const sqsApi = new LocalSqsApi({
      queues: new Set(workers.filter((w) => w.queued).map((w) => w.handler)),
      grants,
      verifier: new SignatureVerifier('sqs', region, (id) => grants.secretOf(id)),
      lambdaApi,
      log,
    })

    const failures = (await Promise.all(every.map((fn) => fn.warm()))).filter(Boolean)
    if (failures.length > 0) throw new Error(failures.join('\n'))
    const functions = new LocalFunctions(
      authorizerFunction,
      routeFunctions,
      every,
      grants,
      new SignatureVerifier('execute-api', region, (id) => grants.secretOf(id)),
      lambdaApi,
      sqsApi,
      expectedTokensIn(environment, options.tokens),
      log,
      aws,
      concurrency,
    )
    return { functions, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
