import { afterEach, describe, expect, it, vi } from 'vitest'
import { awsRegion, credentials } from '../../lambdas/adapters/wiring/aws.js'

// What a function takes from its environment to sign its requests: Lambda sets these variables, and the
// local stack gives each function its own.

describe("a function's AWS environment", () => {
  afterEach(() => {
    vi.unstubAllEnvs()
  })

  it('gives the credentials Lambda puts there, with the session token when there is one', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'ASIAEXAMPLE')
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'secret')
    vi.stubEnv('AWS_SESSION_TOKEN', '')
    expect(await credentials()).toEqual({ accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret' })
    vi.stubEnv('AWS_SESSION_TOKEN', 'token')
    expect(await credentials()).toEqual({
      accessKeyId: 'ASIAEXAMPLE',
      secretAccessKey: 'secret',
      sessionToken: 'token',
    })
  })

  it('names what is missing', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'ASIAEXAMPLE')
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', '')
    await expect(credentials()).rejects.toThrow(/AWS_SECRET_ACCESS_KEY/)
    vi.stubEnv('AWS_REGION', '')
    expect(() => awsRegion()).toThrow(/AWS_REGION is not set/)
    vi.stubEnv('AWS_REGION', 'eu-west-1')
    expect(awsRegion()).toBe('eu-west-1')
  })
})
