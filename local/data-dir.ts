import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** What a data folder holds besides the emulators' own data. */
export const dataDirFiles = {
  /** The pid of the local stack using the folder. */
  lock: 'local-stack.lock',
  /** The dev tokens' signing key (a private JWK), so that tokens outlive a restart. */
  signingKey: 'dev-signing-key.json',
  /** The local OpenID provider's accounts (user names and scrypt hashes of their passwords), mode 0600. */
  accounts: 'accounts.json',
  /** The local OpenID provider's grants and refresh tokens, so that a sign-in outlives a restart (0600). */
  signInState: 'sign-in-state.json',
} as const

/** A data folder file's text, or undefined while there is none (the first run). */
export async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** Replaces a data folder file whole (a crash leaves the old one or the new one), readable by its owner alone. */
export async function writePrivately(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`
  await writeFile(temporary, text, { mode: 0o600 })
  // The mode above applies only when the file is created; one left by a crashed write keeps its own.
  await chmod(temporary, 0o600)
  await rename(temporary, file)
}

/** Another live process holds the data folder. */
export class DataDirInUse extends Error {
  override readonly name = 'DataDirInUse'
}

/**
 * Takes the data folder for this process, so that two local stacks never share DynamoDB Local's and the
 * S3 emulator's files: refuses while the pid in its lock file is alive, and takes over a lock whose process
 * is gone (a crash, a kill -9). Returns the release.
 */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true })
  const file = join(dir, dataDirFiles.lock)
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx' })
      return async () => {
        if ((await readPid(file)) === process.pid) await rm(file, { force: true })
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const holder = await readPid(file)
    if (holder !== undefined && isAlive(holder)) {
      throw new DataDirInUse(
        `${dir}/ is in use by another Huddle local stack (pid ${holder}). Stop that one first (Ctrl-C in ` +
          `its terminal, or kill ${holder}), or give this one its own folder and port: ` +
          'HUDDLE_DATA_DIR=.huddle-2 PORT=3002 npm start',
      )
    }
    // An empty lock may be one another start is writing this instant: look again before taking it.
    if (holder === undefined && attempt < 2) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      continue
    }
    // Its process is gone: the lock is stale.
    await rm(file, { force: true })
  }
  throw new Error(`could not lock ${dir}/: another process keeps taking ${dataDirFiles.lock}`)
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(file, 'utf8'), 10)
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/** Whether a process exists (one of another user's answers EPERM, and exists too). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
