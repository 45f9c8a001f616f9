import { exec } from 'node:child_process'
import type { TokenSource } from '@huddle/client'
import { fetchDevToken } from '../local/dev-tokens.js'

/** A failure the user can fix: its message says in one line what failed and what to do. */
export class ExampleError extends Error {}

/** Where the examples' tokens come from, and the token that source gave for the first connect. */
export type TokenOrigin = 'HUDDLE_TOKEN' | 'HUDDLE_TOKEN_COMMAND' | 'dev'

export interface Tokens {
  origin: TokenOrigin
  /** What the client calls before every connect. */
  source: TokenSource
  /** The identity the first token names (read without verifying), when it is a JWT that names one. */
  identity?: string
}

/**
 * The examples' tokens: HUDDLE_TOKEN (fixed), else HUDDLE_TOKEN_COMMAND (a shell command run before every
 * connect, whose output is the token), else the local stack's dev tokens for `identity`. A command's first
 * token is taken now, so that the identity it names can be checked before connecting.
 */
export async function examplesTokens(
  identity: string,
  devTokenUrl: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Tokens> {
  const claim = env.HUDDLE_IDENTITY_CLAIM || 'sub'
  if (env.HUDDLE_TOKEN) {
    return { origin: 'HUDDLE_TOKEN', source: env.HUDDLE_TOKEN, ...named(env.HUDDLE_TOKEN, claim) }
  }
  const command = env.HUDDLE_TOKEN_COMMAND
  if (command) {
    const first = await runTokenCommand(command)
    let unused: string | undefined = first
    const source = async () => {
      const token = unused ?? (await runTokenCommand(command))
      unused = undefined
      return token
    }
    return { origin: 'HUDDLE_TOKEN_COMMAND', source, ...named(first, claim) }
  }
  return { origin: 'dev', source: () => fetchDevToken(devTokenUrl, identity), identity }
}

/** Runs the token command in a shell; its output, trimmed, is the token, which no message ever shows. */
export function runTokenCommand(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    exec(command, { timeout: 60_000, maxBuffer: 1024 * 1024 }, (error, stdout, stderr) => {
      const said = stderr.trim().split('\n').slice(-3).join(' / ')
      if (error) {
        const how = error.killed ? 'was stopped after 60 s' : `exited with code ${error.code}`
        return reject(
          new ExampleError(
            `HUDDLE_TOKEN_COMMAND (${command}) ${how}${said ? `: ${said}` : ''}: run it by hand to see why, then fix it (or set HUDDLE_TOKEN)`,
          ),
        )
      }
      const token = stdout.trim()
      if (!token || /\s/.test(token)) {
        return reject(
          new ExampleError(
            `HUDDLE_TOKEN_COMMAND (${command}) printed ${token ? 'more than one word' : 'nothing'}${said ? ` (${said})` : ''}: make it print the token alone, such as with --output text`,
          ),
        )
      }
      resolve(token)
    })
  })
}

/** `{ identity }` when the token is a JWT whose `claim` is a string; read without verifying. */
function named(token: string, claim: string): { identity?: string } {
  const identity = claimOf(token, claim)
  return identity === undefined ? {} : { identity }
}

/** A JWT's claim, read without verifying (the server verifies): only to check who the token names. */
export function claimOf(token: string, claim: string): string | undefined {
  try {
    const payload: unknown = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
    const value =
      typeof payload === 'object' && payload !== null
        ? (payload as Record<string, unknown>)[claim]
        : undefined
    return typeof value === 'string' ? value : undefined
  } catch {
    return undefined
  }
}
