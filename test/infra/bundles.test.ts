import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { authorizer, routes, workers } from '../../lambdas/routes.js'
import { createDevTokens } from '../../local/dev-tokens.js'
import { type Gateway, startGateway } from '../../local/gateway.js'
import { localHandlerEnvironment } from '../../local/stack.js'
import { cdkOut, cdkOutReady, underNpmTest } from '../support/cdk-out.js'
import { connector } from '../support/clients.js'
import { png, unique } from '../support/huddle.js'
import { quietGateway } from '../support/logs.js'

// `npm test` synthesizes the CDK app (esbuild bundles every function into cdk.out) beside the tests.
const synthesized = existsSync(join(cdkOut, 'manifest.json'))
if (!synthesized && !underNpmTest) {
  console.warn(
    'test/infra/bundles.test.ts is skipped: cdk.out is missing (run `npm run synth`, as `npm test` does)',
  )
}

interface Manifest {
  artifacts: Record<string, { type: string; properties?: { templateFile?: string } }>
}
interface Template {
  Resources: Record<
    string,
    { Type: string; Properties?: { Handler?: string }; Metadata?: Record<string, unknown> }
  >
}

/**
 * Each function's bundle, by handler name: the template's Lambda functions, named by their construct
 * (`MessageHandler/Function`, lib/huddle-stack.ts), with their code at the asset path the CDK recorded.
 */
function synthesizedBundles(): Map<string, string> {
  const names = new Map(
    [authorizer.handler, ...routes.map((r) => r.handler), ...workers.map((w) => w.handler)].map((h) => [
      // The construct's name is the handler's in PascalCase (delete-group: DeleteGroupHandler).
      h.replace(/[^A-Za-z0-9]/g, '').toLowerCase(),
      h,
    ]),
  )
  const bundles = new Map<string, string>()
  const manifest = JSON.parse(readFileSync(join(cdkOut, 'manifest.json'), 'utf8')) as Manifest
  for (const artifact of Object.values(manifest.artifacts)) {
    const templateFile = artifact.properties?.templateFile
    if (artifact.type !== 'aws:cloudformation:stack' || !templateFile) continue
    const template = JSON.parse(readFileSync(join(cdkOut, templateFile), 'utf8')) as Template
    for (const resource of Object.values(template.Resources)) {
      const asset = resource.Metadata?.['aws:asset:path']
      const path = String(resource.Metadata?.['aws:cdk:path'] ?? '')
      if (resource.Type !== 'AWS::Lambda::Function' || typeof asset !== 'string') continue
      const construct = path.split('/').at(-3) ?? '' // <stack>/<Name>Handler/Function/Resource
      const handler = names.get(construct.replace(/Handler$/, '').toLowerCase())
      if (!handler) continue
      const file = (resource.Properties?.Handler ?? 'index.handler').split('.')[0]
      const module = ['mjs', 'js'].map((ext) => join(cdkOut, asset, `${file}.${ext}`)).find(existsSync)
      if (module) bundles.set(handler, module)
    }
  }
  return bundles
}

/** The user pool's pre-sign-up trigger's bundle in cdk.out (the ci stage has the pool), by its construct's path. */
function signUpBundle(): string | undefined {
  const manifest = JSON.parse(readFileSync(join(cdkOut, 'manifest.json'), 'utf8')) as Manifest
  for (const artifact of Object.values(manifest.artifacts)) {
    const templateFile = artifact.properties?.templateFile
    if (artifact.type !== 'aws:cloudformation:stack' || !templateFile) continue
    const template = JSON.parse(readFileSync(join(cdkOut, templateFile), 'utf8')) as Template
    for (const resource of Object.values(template.Resources)) {
      const path = String(resource.Metadata?.['aws:cdk:path'] ?? '')
      const asset = resource.Metadata?.['aws:asset:path']
      if (
        resource.Type === 'AWS::Lambda::Function' &&
        path.includes('/UserPool/SignUpHandler/') &&
        typeof asset === 'string'
      ) {
        return join(cdkOut, asset, 'index.mjs')
      }
    }
  }
  return undefined
}

describe.skipIf(!synthesized && !underNpmTest)('the bundles that ship', () => {
  let gateway: Gateway
  let bundles: Map<string, string>
  const connect = connector(() => gateway.url)

  beforeAll(async () => {
    if (!(await cdkOutReady()))
      throw new Error('cdk.out is missing: `npm test` runs `npm run synth` in its global setup')
    bundles = synthesizedBundles()
    gateway = await startGateway({
      port: 0,
      tokens: await createDevTokens(),
      handlerModule: (handler) => {
        const bundle = bundles.get(handler)
        if (!bundle) throw new Error(`cdk.out has no bundle for ${handler}`)
        return bundle
      },
      handlerEnvironment: (url) =>
        localHandlerEnvironment(url, inject('dynamoEndpoint'), inject('s3Endpoint')),
      ...quietGateway,
    })
  })
  afterAll(() => gateway?.close())

  it('are in cdk.out for every function', () => {
    const handlers = [authorizer.handler, ...routes.map((r) => r.handler), ...workers.map((w) => w.handler)]
    expect([...bundles.keys()].sort()).toEqual([...handlers].sort())
    for (const bundle of bundles.values()) expect(bundle.startsWith(cdkOut)).toBe(true)
  })

  it('include the pre-sign-up trigger, which refuses a user name that is no identity and confirms the others', async () => {
    const bundle = signUpBundle()
    expect(
      bundle,
      'cdk.out has no sign-up trigger: does the ci stage in cdk.json set userPool?',
    ).toBeDefined()
    const { handler } = (await import(bundle as string)) as {
      handler: (event: unknown) => Promise<{ response: { autoConfirmUser: boolean } }>
    }
    const event = (userName: string) => ({ userName, triggerSource: 'PreSignUp_SignUp', response: {} })
    expect((await handler(event('alice'))).response.autoConfirmUser).toBe(true)
    await expect(handler(event('Alice Smith'))).rejects.toThrow(/lowercase letters/)
  })

  it('connect, upload an avatar, invite, join and message against the emulators', async () => {
    const [alice, bob] = await connect(unique('alice'), unique('bob'))
    const key = await alice.uploadAvatar(png)
    const gid = unique('bundled')
    const invited = await alice.ok('invite', { gid, name: 'Bundled', members: [bob.iss], avatar: { key } })
    const image = (invited.group as { image: { url: string } }).image
    expect(Buffer.from(await (await fetch(image.url)).arrayBuffer())).toEqual(png)
    await bob.nextEvent('chat.invite', (event) => event.gid === gid)

    await bob.ok('join', { gid })
    await alice.nextEvent('chat.join', (event) => event.gid === gid && event.iss === bob.iss)
    const sent = await alice.ok('message', { gid, body: 'from the bundle' })
    const received = await bob.nextEvent('chat.message', (event) => event.jti === sent.jti)
    expect(received).toMatchObject({ gid, iss: alice.iss, body: 'from the bundle' })
    expect((await bob.ok('history', { gid })).events).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'chat.message', jti: sent.jti })]),
    )
  })
})
