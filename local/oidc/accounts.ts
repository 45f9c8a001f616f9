import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto'
import { identityPattern } from '@huddle/client/protocol'
import { readIfPresent, writePrivately } from '../data-dir.js'

/** The shortest password an account may have. */
export const minPasswordLength = 8

/** scrypt's cost (2^14, r 8, p 1: OWASP's floor), kept with each hash so that a later change reads old ones. */
const cost = { N: 16_384, r: 8, p: 1 } as const
const hashBytes = 32

interface StoredAccount {
  salt: string
  hash: string
  N: number
  r: number
  p: number
  created: string
}

/** Why a sign-up or a sign-in failed, in words for the page, and which field to fix. */
export interface AccountProblem {
  ok: false
  field: 'name' | 'password'
  message: string
}

export type AccountOutcome = { ok: true } | AccountProblem

/** The local provider's accounts: a user name (the token's `sub`) and a scrypt hash of its password. */
export interface Accounts {
  signUp(name: string, password: string): Promise<AccountOutcome>
  signIn(name: string, password: string): Promise<AccountOutcome>
  has(name: string): Promise<boolean>
}

/**
 * Accounts kept in `file` (JSON, mode 0600, written whole and renamed into place), or in memory when it is
 * undefined (--in-memory). Names are taken as typed: a name is an identity, and identities are case-sensitive.
 */
export async function openAccounts(file?: string): Promise<Accounts> {
  const accounts = file ? await readAccounts(file) : new Map<string, StoredAccount>()
  let writing = Promise.resolve()
  const save = () => {
    if (!file) return Promise.resolve()
    const text = `${JSON.stringify({ accounts: Object.fromEntries(accounts) }, null, 2)}\n`
    writing = writing.then(() => writePrivately(file, text))
    return writing
  }
  return {
    async signUp(name, password) {
      const problem = nameProblem(name) ?? passwordProblem(password)
      if (problem) return problem
      if (accounts.has(name)) {
        return { ok: false, field: 'name', message: `The name “${name}” is taken: pick another, or sign in.` }
      }
      const salt = randomBytes(16)
      const hash = await derive(password, salt, cost)
      // Another sign-up for the same name may have finished while this one hashed.
      if (accounts.has(name)) {
        return { ok: false, field: 'name', message: `The name “${name}” is taken: pick another, or sign in.` }
      }
      accounts.set(name, {
        salt: salt.toString('base64'),
        hash: hash.toString('base64'),
        ...cost,
        created: new Date().toISOString(),
      })
      await save()
      return { ok: true }
    },
    async signIn(name, password) {
      const wrong: AccountProblem = {
        ok: false,
        field: 'password',
        message: 'That name and password do not match an account. Check them, or sign up.',
      }
      const stored = accounts.get(name)
      if (!stored) {
        // As long as a real check, so that the answer's time does not tell which names exist.
        await derive(password, randomBytes(16), cost)
        return wrong
      }
      const expected = Buffer.from(stored.hash, 'base64')
      const actual = await derive(password, Buffer.from(stored.salt, 'base64'), stored)
      return actual.length === expected.length && timingSafeEqual(actual, expected) ? { ok: true } : wrong
    },
    has: async (name) => accounts.has(name),
  }
}

function nameProblem(name: string): AccountProblem | undefined {
  if (identityPattern.test(name)) return undefined
  return {
    ok: false,
    field: 'name',
    message: 'A user name is 1 to 128 of the characters A–Z a–z 0–9 _ . : @ - (no spaces).',
  }
}

function passwordProblem(password: string): AccountProblem | undefined {
  if (password.length >= minPasswordLength) return undefined
  return {
    ok: false,
    field: 'password',
    message: `A password has at least ${minPasswordLength} characters.`,
  }
}

function derive(password: string, salt: Buffer, { N, r, p }: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, hashBytes, { N, r, p }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  )
}

async function readAccounts(file: string): Promise<Map<string, StoredAccount>> {
  const text = await readIfPresent(file)
  if (text === undefined) return new Map()
  const parsed = JSON.parse(text) as { accounts?: Record<string, StoredAccount> }
  if (typeof parsed.accounts !== 'object' || parsed.accounts === null) {
    throw new Error(`${file} holds no accounts; move it away to start with none`)
  }
  return new Map(Object.entries(parsed.accounts))
}
