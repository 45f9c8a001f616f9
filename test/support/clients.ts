import { afterEach } from 'vitest'
import { TestClient } from './huddle.js'

/** Connects one client per identity and closes them all after each test. */
export function connector(): (...identities: string[]) => Promise<TestClient[]> {
  const open: TestClient[] = []
  afterEach(() => {
    for (const client of open.splice(0)) client.close()
  })
  return async (...identities) => {
    const clients = await Promise.all(identities.map((iss) => TestClient.connect(iss)))
    open.push(...clients)
    return clients
  }
}
