import { execFile, execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const projectRoot = fileURLToPath(new URL('..', import.meta.url))

/** The build before issue 21's redesign (its last commit before the first redesign commit): fixed, so every run
 * compares against the same code however far the redesign has come. */
export const baselineRef = '551dd1e'

/** A commit checked out beside this one, and which commit it is. */
export interface Worktree {
  /** Absolute, ending in a slash, like `projectRoot`. */
  dir: string
  commit: string
}

/** The full commit a ref names in this repository; throws when it names none. */
export async function resolveCommit(ref: string): Promise<string> {
  const { stdout } = await run('git', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], {
    cwd: projectRoot,
  })
  return stdout.trim()
}

/**
 * Checks `ref` out into a temporary worktree under node_modules/.cache, so that its imports find this
 * checkout's node_modules, runs `use` on it and removes it again, also when `use` throws or the process is
 * interrupted.
 */
export async function withWorktree<T>(ref: string, use: (tree: Worktree) => Promise<T>): Promise<T> {
  const commit = await resolveCommit(ref)
  const parent = `${projectRoot}node_modules/.cache/huddle-bench`
  await mkdir(parent, { recursive: true })
  const dir = await mkdtemp(`${parent}/baseline-`)
  const remove = () => {
    try {
      execFileSync('git', ['worktree', 'remove', '--force', dir], { cwd: projectRoot, stdio: 'ignore' })
    } catch {
      // Never added, or half made: the directory goes, and `git worktree prune` forgets it.
      rmSync(dir, { recursive: true, force: true })
      execFileSync('git', ['worktree', 'prune'], { cwd: projectRoot, stdio: 'ignore' })
    }
  }
  const interrupted = (signal: NodeJS.Signals) => {
    remove()
    process.kill(process.pid, signal)
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  try {
    await run('git', ['worktree', 'add', '--detach', '--quiet', dir, commit], { cwd: projectRoot })
    return await use({ dir: `${dir}/`, commit })
  } finally {
    process.off('SIGINT', interrupted)
    process.off('SIGTERM', interrupted)
    remove()
  }
}
