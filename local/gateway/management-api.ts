import type { IncomingMessage, ServerResponse } from 'node:http'
import { limits } from '@huddle/client/protocol'
import { denialMessage, localAccount } from '../grants.js'
import { readBody, sendAwsError, sendJson } from '../http.js'
import { apiId, stage } from './api.js'
import type { GatewayState } from './state.js'

/**
 * The @connections management API the handlers' real SDK client calls. As execute-api does, it answers
 * 403 to a request that is not SigV4-signed by a key granted ManageConnections (a function whose route
 * has `connections`, or the developer's own), before it looks at the connection; past the account's request
 * rate (AwsBehaviours.callbackRatePerSecond) it answers 429 LimitExceededException, `{"message":"Too Many
 * Requests"}`.
 */
export async function manageConnection(
  state: GatewayState,
  request: IncomingMessage,
  response: ServerResponse,
  id: string,
  log: (line: string) => void,
): Promise<void> {
  const method = request.method ?? 'GET'
  // A post is counted at its arrival, not after its body and signature are read, which a busy host delays.
  const arrivedAt = Date.now()
  const data =
    method === 'POST' ? await readBody(request, limits.postBytes).catch(() => undefined) : Buffer.alloc(0)
  if (data === undefined) {
    return sendAwsError(response, 413, 'PayloadTooLargeException', `data is over ${limits.postBytes} bytes`)
  }
  // The account's request rate is spent before the call is looked at, as API Gateway throttles first.
  if (!state.throttles.callbacks.take()) {
    state.aws.counters.callbackThrottles++
    return sendAwsError(response, 429, 'LimitExceededException', 'Too Many Requests')
  }
  const checked = await refuseManagementCall(state, request, data, id)
  const refusal = 'type' in checked ? checked : undefined
  if (refusal) {
    log(`management API: refused ${method} @connections/${id}: ${refusal.message}`)
    return sendAwsError(response, 403, refusal.type, refusal.message)
  }
  const target = state.connections.get(id)
  if (!target) return sendAwsError(response, 410, 'GoneException', `connection ${id} is gone`)
  switch (method) {
    case 'POST': {
      if ('caller' in checked) state.posts.record(checked.caller, arrivedAt)
      const text = data.toString('utf8')
      const failure = state.connections.postFault(id, text)
      if (failure !== undefined) {
        return sendJson(response, failure, { message: 'failed on purpose (/dev/fail-posts)' })
      }
      target.socket.send(text)
      response.writeHead(200).end()
      return
    }
    case 'GET':
      return sendJson(response, 200, {
        ConnectedAt: new Date(target.connectedAt).toISOString(),
        LastActiveAt: new Date(target.lastActiveAt).toISOString(),
        Identity: { SourceIp: target.sourceIp, UserAgent: target.userAgent },
      })
    case 'DELETE':
      target.socket.close(1000, 'closed by the management API')
      response.writeHead(204).end()
      return
    default:
      sendJson(response, 405, { message: 'use POST, GET or DELETE' })
  }
}

/** Why execute-api would refuse this call (its signature, its key, or the key's grants), or who made it. */
async function refuseManagementCall(
  state: GatewayState,
  request: IncomingMessage,
  body: Buffer,
  id: string,
): Promise<{ type: string; message: string } | { caller: string }> {
  const { functions } = state
  if (!functions) return { type: 'ServiceUnavailableException', message: 'starting' }
  const signed = await functions.managementApi.check({
    method: request.method ?? 'GET',
    url: request.url ?? '/',
    headers: request.headers,
    body,
  })
  if (!signed.ok) return { type: `${signed.refusal}Exception`, message: signed.message }
  const principal = functions.grants.principalOf(signed.accessKeyId)
  if (!principal) return { type: 'UnrecognizedClientException', message: 'unknown access key' }
  const resource = `arn:aws:execute-api:${localAccount.region}:${localAccount.id}:${apiId}/${stage}/${request.method}/@connections/${id}`
  const denial = functions.grants.manageConnections(principal, resource)
  if (denial) return { type: 'AccessDeniedException', message: denialMessage(principal, denial) }
  return { caller: principal.kind === 'function' ? principal.name : 'developer' }
}
