import type { IncomingMessage, ServerResponse } from 'node:http'

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

/** An AWS-style error: its type in `x-amzn-errortype` (what the SDKs read) and a JSON `{message}`. */
export function sendAwsError(response: ServerResponse, status: number, type: string, message: string): void {
  response.setHeader('x-amzn-errortype', type)
  sendJson(response, status, { message })
}

/** A JSON object body, or what is wrong with it, in words for a 400. */
export async function readJson(
  request: IncomingMessage,
  limit: number,
): Promise<{ ok: true; value: Record<string, unknown> } | { ok: false; problem: string }> {
  let text: string
  try {
    text = (await readBody(request, limit)).toString('utf8')
  } catch (error) {
    return { ok: false, problem: error instanceof Error ? error.message : String(error) }
  }
  let value: unknown
  try {
    value = JSON.parse(text || '{}')
  } catch (error) {
    return { ok: false, problem: `the body is not JSON (${error instanceof Error ? error.message : error})` }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, problem: 'the body is not a JSON object' }
  }
  return { ok: true, value: value as Record<string, unknown> }
}

/** Reads a request body, refusing (with an error) one larger than `limit` bytes. */
export async function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request) {
    size += (chunk as Buffer).length
    if (size > limit) throw new Error(`the body is over ${limit} bytes`)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}
