/** One item of the table as the adapters read and write it: plain JS values. */
export type Item = Record<string, unknown>

/** An attribute value in DynamoDB's JSON protocol (binary as base64, numbers as strings). */
export type AttributeValue =
  | { S: string }
  | { N: string }
  | { B: string }
  | { BOOL: boolean }
  | { NULL: true }
  | { L: AttributeValue[] }
  | { M: Record<string, AttributeValue> }
  | { SS: string[] }
  | { NS: string[] }
  | { BS: string[] }

/**
 * An item in DynamoDB's JSON, as the SDK's document client writes it (`removeUndefinedValues`): strings,
 * numbers, booleans, null, bytes, arrays as lists, plain objects as maps, sets of strings, numbers or bytes;
 * undefined values are left out of maps, lists and sets. Anything else (a Date, NaN, an empty set) throws.
 */
export function marshallItem(item: Item): Record<string, AttributeValue> {
  return marshallMap(item)
}

/** An item read from DynamoDB's JSON, as the document client reads it (N as a number, B as bytes). */
export function unmarshallItem(item: Record<string, AttributeValue>): Item {
  const native: Item = {}
  for (const [name, value] of Object.entries(item)) native[name] = unmarshallValue(value)
  return native
}

/** One value in DynamoDB's JSON (see marshallItem). */
export function marshallValue(value: unknown): AttributeValue {
  if (value === null) return { NULL: true }
  switch (typeof value) {
    case 'string':
      return { S: value }
    case 'number':
      return { N: numberText(value) }
    case 'bigint':
      return { N: value.toString() }
    case 'boolean':
      return { BOOL: value }
  }
  if (Array.isArray(value)) return { L: value.filter((v) => v !== undefined).map(marshallValue) }
  if (value instanceof Set) return marshallSet(value)
  if (isBytes(value)) return { B: base64(value) }
  if (isPlainObject(value)) return { M: marshallMap(value) }
  throw new Error(`Cannot store ${describe(value)} in DynamoDB`)
}

/** One value read from DynamoDB's JSON. */
export function unmarshallValue(value: AttributeValue): unknown {
  if ('S' in value) return value.S
  if ('N' in value) return Number(value.N)
  if ('BOOL' in value) return value.BOOL
  if ('NULL' in value) return null
  if ('M' in value) return unmarshallItem(value.M)
  if ('L' in value) return value.L.map(unmarshallValue)
  if ('SS' in value) return new Set(value.SS)
  if ('NS' in value) return new Set(value.NS.map(Number))
  if ('B' in value) return bytes(value.B)
  if ('BS' in value) return new Set(value.BS.map(bytes))
  throw new Error(`Unknown DynamoDB attribute value: ${JSON.stringify(value)}`)
}

function marshallMap(map: Item): Record<string, AttributeValue> {
  const marshalled: Record<string, AttributeValue> = {}
  for (const [name, value] of Object.entries(map)) {
    if (value !== undefined) marshalled[name] = marshallValue(value)
  }
  return marshalled
}

/** A set by the type of its members (the first one's): SS, NS or BS; DynamoDB holds no empty set. */
function marshallSet(set: Set<unknown>): AttributeValue {
  const members = [...set].filter((member) => member !== undefined)
  const [first] = members
  if (first === undefined) throw new Error('Cannot store an empty set in DynamoDB')
  if (typeof first === 'string') return { SS: members.map((m) => (marshallValue(m) as { S: string }).S) }
  if (typeof first === 'number' || typeof first === 'bigint') {
    return { NS: members.map((m) => (marshallValue(m) as { N: string }).N) }
  }
  if (isBytes(first)) return { BS: members.map((m) => (marshallValue(m) as { B: string }).B) }
  throw new Error(`Cannot store a set of ${describe(first)} in DynamoDB`)
}

/** A number as DynamoDB takes it; like the SDK, refuses what a JS number cannot hold exactly. */
function numberText(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`Cannot store ${value} in DynamoDB`)
  if (Math.abs(value) > Number.MAX_SAFE_INTEGER) {
    throw new Error(`Cannot store ${value} in DynamoDB: it is beyond Number.MAX_SAFE_INTEGER`)
  }
  return value.toString()
}

function isBytes(value: unknown): value is ArrayBufferView | ArrayBuffer {
  return ArrayBuffer.isView(value) || value instanceof ArrayBuffer
}

function base64(value: ArrayBufferView | ArrayBuffer): string {
  const view = ArrayBuffer.isView(value)
    ? Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    : Buffer.from(value)
  return view.toString('base64')
}

function bytes(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'base64'))
}

function isPlainObject(value: unknown): value is Item {
  if (typeof value !== 'object' || value === null) return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

function describe(value: unknown): string {
  if (typeof value !== 'object' || value === null) return String(value)
  return `a ${value.constructor?.name ?? 'value'}`
}
