import {
  type ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi'
import type { EventSender } from '../core/ports.js'

const encoder = new TextEncoder()

/** Posts events to connections through the API Gateway management API (@connections). */
export class ManagementApiSender implements EventSender {
  constructor(private readonly api: ApiGatewayManagementApiClient) {}

  async send(connectionId: string, data: string): Promise<'sent' | 'gone'> {
    try {
      await this.api.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: encoder.encode(data) }),
      )
      return 'sent'
    } catch (error) {
      if (isGone(error)) return 'gone'
      throw error
    }
  }
}

/** SDK v3 errors carry the status in $metadata, not in statusCode. */
function isGone(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
  return error.name === 'GoneException' || status === 410
}
