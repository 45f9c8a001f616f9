/** The slice of API Gateway's WebSocket event and result that Huddle uses; the local gateway builds the same. */
export interface WebSocketEvent {
  requestContext: {
    routeKey: string
    eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT'
    connectionId: string
    connectedAt: number
    requestId: string
    requestTimeEpoch: number
    domainName: string
    stage: string
    apiId: string
    /** The $connect authorizer's context, passed by API Gateway to every later route of the connection. */
    authorizer?: { principalId?: string; sub?: string }
    identity: { sourceIp: string; userAgent?: string }
    disconnectStatusCode?: number
    disconnectReason?: string
  }
  body?: string
  isBase64Encoded: boolean
}

export interface WebSocketResult {
  statusCode: number
  body?: string
}

/** The REQUEST authorizer's input on $connect. */
export interface AuthorizerEvent {
  type: 'REQUEST'
  methodArn: string
  queryStringParameters?: Record<string, string | undefined>
  headers?: Record<string, string | undefined>
  requestContext: Pick<
    WebSocketEvent['requestContext'],
    'routeKey' | 'eventType' | 'connectionId' | 'apiId' | 'stage'
  >
}

export interface AuthorizerResult {
  principalId: string
  policyDocument: {
    Version: '2012-10-17'
    Statement: { Action: 'execute-api:Invoke'; Effect: 'Allow' | 'Deny'; Resource: string }[]
  }
  context: { sub: string }
}
