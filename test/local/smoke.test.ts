import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'vitest'
import { createDevTokens } from '../../local/dev-tokens.js'
import { httpUrl } from '../support/huddle.js'

/** `npm run smoke` as its own process, as a user runs it after `cdk deploy`, with everything it prints. */
async function smoke(args: string[], env: Record<string, string> = {}) {
  // Nothing of the caller's AWS setup (region, profile, keys) or test users reaches it unless given.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^(SMOKE_TOKEN_|AWS_(?!SDK_JS_))/.test(key)),
  )
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/smoke.ts', ...args], {
    env: { ...inherited, ...env },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => {
    stdout += chunk
  })
  child.stderr.on('data', (chunk) => {
    stderr += chunk
  })
  const [code] = await once(child, 'exit')
  return { code: code as number | null, lines: stdout.trim().split('\n'), stderr }
}

// Each run is its own process, so they run at once.
describe('npm run smoke', { concurrent: true }, () => {
  it('passes against the local stack, one ✓ line per step, and says the alarm step was skipped', async ({
    expect,
  }) => {
    const run = await smoke(['--url', httpUrl()])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const checks = run.lines
      .filter((line) => line.startsWith('✓ '))
      .map((line) => line.replace(/\S+-[0-9a-f]{8}/g, '…'))
    expect(checks).toEqual([
      `✓ connected both users to ${httpUrl().replace(/^http/, 'ws')} (the authorizer accepted their tokens)`,
      '✓ … invited … to … with an avatar (uploaded to the bucket through a presigned link)',
      '✓ downloaded the avatar from its presigned link: the same bytes',
      '✓ … was handed the invite and joined; … saw the join',
      '✓ a message each way: … → … and … → …',
      '✓ history holds both messages, newest first',
      '✓ an attachment: uploaded by …, downloaded and decrypted by …, the same bytes',
      '✓ an encrypted group: … created …, … joined, both devices are in its roster',
      '✓ an encrypted message each way, each decrypted by the other',
      '✓ … left both groups; … saw the leave',
    ])
    expect(run.lines).toContain(
      '- alarm step skipped: a local stack has no CloudWatch. Against a deployed stack, --stage <name> (with AWS credentials) sets one of its alarms to ALARM and checks that its action ran',
    )
    expect(run.lines.at(-1)).toBe('smoke check passed: 10 steps')
    // README shows a passing run: the same lines, but for the identities and the address.
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
    const shown = readme.split('$ npm run smoke -- --url http://localhost:3001\n')[1]?.split('\n```')[0] ?? ''
    const general = (lines: string[], url: string) =>
      lines.map((line) => line.replace(/\S+-[0-9a-f]{8}/g, '…').replaceAll(url, '<url>'))
    expect(general(shown.split('\n'), 'ws://localhost:3001')).toEqual(
      general(run.lines, httpUrl().replace(/^http/, 'ws')),
    )
  })

  it('fails at the connect step with advice when nothing answers at the URL', async ({ expect }) => {
    const run = await smoke(['--url', 'http://127.0.0.1:9'])
    expect(run.code).toBe(1)
    expect(run.lines).toContain(
      '  → nothing answers at http://127.0.0.1:9: start the local stack with `npm start` (it prints its address), or check --url',
    )
    expect(run.lines.find((line) => line.startsWith('✗ '))).toMatch(
      /^✗ connected both users to ws:\/\/127\.0\.0\.1:9 .*FAILED/,
    )
    expect(run.lines.at(-1)).toBe('smoke check FAILED after 0 steps')
  })

  it('fails at the connect step, pointing at the authorizer, when a token is refused', async ({ expect }) => {
    // Tokens signed by a key the stack does not publish, as from another issuer.
    const elsewhere = await createDevTokens()
    const [tokenA, tokenB] = await Promise.all([elsewhere.issue('smoke-a'), elsewhere.issue('smoke-b')])
    const run = await smoke(['--url', httpUrl()], { SMOKE_TOKEN_A: tokenA, SMOKE_TOKEN_B: tokenB })
    expect(run.code).toBe(1)
    expect(run.lines.find((line) => line.startsWith('✗ '))).toMatch(
      /^✗ connected both users .*FAILED \(.*401/,
    )
    expect(run.lines.find((line) => line.startsWith('  → '))).toMatch(
      /the authorizer refused the token: check it is unexpired and that the stage's jwksUrl, jwtIssuer and jwtAudience/,
    )
  })

  // The SDK looks for a region and credentials in the environment and in ~/.aws, which here hold none.
  const withoutAws = async (args: string[]) => {
    const home = await mkdtemp(join(tmpdir(), 'smoke-home-'))
    const run = await smoke(args, {
      HOME: home,
      AWS_EC2_METADATA_DISABLED: 'true',
      SMOKE_TOKEN_A: 'a',
      SMOKE_TOKEN_B: 'b',
    })
    await rm(home, { recursive: true })
    return run
  }

  it('with --stage and no region, stops at reading the outputs and asks for --region', async ({ expect }) => {
    const run = await withoutAws(['--stage', 'nowhere'])
    expect(run.code).toBe(1)
    expect(run.lines).toEqual([
      '✗ read the WebSocketUrl output of stack Huddle-nowhere: FAILED (Region is missing)',
      "  → give the stack's region with --region (or set AWS_REGION)",
      'smoke check FAILED after 0 steps',
    ])
  })

  it('with --stage and no AWS credentials, says how to sign in', async ({ expect }) => {
    const run = await withoutAws(['--stage', 'nowhere', '--region', 'eu-west-1'])
    expect(run.code).toBe(1)
    expect(run.lines[0]).toMatch(
      /^✗ read the WebSocketUrl output of stack Huddle-nowhere: FAILED \(Could not load credentials/,
    )
    expect(run.lines[1]).toMatch(/^ {2}→ no AWS credentials were found: sign in \(aws sso login/)
  })
})
