/** A handler that answers with its own environment (the gateway's isolation test), to the frame's id. */
export const handler = async (event: { body?: string }) => {
  let id: unknown
  try {
    id = JSON.parse(event.body ?? '').id
  } catch {
    // Not JSON: no id to answer to.
  }
  return { statusCode: 200, body: JSON.stringify({ type: 'ack', id, env: process.env }) }
}
