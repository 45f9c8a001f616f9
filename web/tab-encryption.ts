import { type ChatOptions, indexedDbEncryptionStore } from '@huddle/client'
import { workerMlsEngine } from '@huddle/client/mls-worker'
import { byId } from './dom.js'
import { holdKeys } from './key-lock.js'

/** This tab's part in end-to-end encryption for one session: its MLS worker and, if it holds them, the keys. */
export interface TabEncryption {
  /** What ChatClient.connect takes as `encryption`; undefined when another tab holds the keys. */
  options: ChatOptions['encryption']
  /** Ends the worker and lets go of the keys, for another tab to take them. */
  end(): Promise<void>
}

/**
 * Starts MLS in a Web Worker (web/mls-worker.ts), off the page's thread, and takes `me`'s keys unless
 * another tab of this browser holds them; says in #encryption-problem what does not work, and why.
 */
export async function startTabEncryption(me: string): Promise<TabEncryption> {
  const worker = new Worker('/mls-worker.js', { type: 'module', name: 'mls' })
  const problem = byId('encryption-problem')
  problem.textContent = ''
  const keys = await holdKeys(me)
  if (!keys.held) {
    problem.textContent = `Another tab of this browser holds ${me}'s keys: encrypted groups can be read there, not here.`
  }
  // The engine's calls would wait for ever on a worker that failed to start: say so.
  worker.addEventListener('error', (event) => {
    problem.textContent = `Encrypted groups do not work in this tab: ${event.message || 'the MLS worker failed to load'}.`
  })
  return {
    // This identity's device keys and group states stay in this browser's IndexedDB (one database per
    // identity).
    options: keys.held
      ? { store: indexedDbEncryptionStore(`huddle-encryption.${me}`), engine: workerMlsEngine(worker) }
      : undefined,
    end: async () => {
      worker.terminate()
      await keys.release()
    },
  }
}
