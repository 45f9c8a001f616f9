import { afterEach } from 'vitest'
import { TestClient } from './huddle.js'

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
