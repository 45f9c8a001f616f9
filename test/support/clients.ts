import { afterEach } from 'vitest'
import { TestClient, unique } from './huddle.js'

/** Connects one client per identity and closes them all after each test. */
export function connector(base?: () => string) {
  const open: TestClient[] = []
  afterEach(() => {
    for (const client of open.splice(0)) client.close()
  })
  return async <const T extends string[]>(...identities: T): Promise<{ [K in keyof T]: TestClient }> => {
    const clients = await Promise.all(identities.map((iss) => TestClient.connect(iss, base?.())))
    open.push(...clients)
    return clients as { [K in keyof T]: TestClient }
  }
}

/** A new group named `name` of `owner`, which `others` have joined; its gid. */
export async function joinedGroup(name: string, owner: TestClient, ...others: TestClient[]): Promise<string> {
  const gid = unique(name.toLowerCase())
  await owner.ok('invite', { gid, name, members: others.map((o) => o.iss) })
  for (const other of others) await other.ok('join', { gid })
  return gid
}
