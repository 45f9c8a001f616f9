import { describe, expect, it } from 'vitest'
import { configProblem } from '../../web/config.js'

describe("the web chat's config.json check", () => {
  const signIn = {
    issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/pool',
    clientId: 'abc',
    scope: 'openid profile email',
    identityClaim: 'cognito:username',
  }

  it('takes the deployed and the local shapes, and one without sign-in', () => {
    expect(configProblem({ websocketUrl: 'wss://api.example.com/prod', signIn })).toBeUndefined()
    expect(configProblem({ websocketUrl: 'ws://127.0.0.1:3001' })).toBeUndefined()
  })

  it('says which field is wrong', () => {
    expect(configProblem([])).toBe('websocketUrl is not a ws:// or wss:// URL')
    expect(configProblem({ websocketUrl: 'https://api.example.com' })).toBe(
      'websocketUrl is not a ws:// or wss:// URL',
    )
    const url = { websocketUrl: 'wss://api.example.com/prod' }
    expect(configProblem({ ...url, signIn: { ...signIn, issuer: 'not a url' } })).toBe(
      'signIn.issuer is not a URL',
    )
    expect(configProblem({ ...url, signIn: { ...signIn, clientId: '' } })).toBe('signIn.clientId is missing')
    expect(configProblem({ ...url, signIn: { ...signIn, scope: 'profile' } })).toBe(
      'signIn.scope does not include openid',
    )
    expect(configProblem({ ...url, signIn: { ...signIn, identityClaim: 42 } })).toBe(
      'signIn.identityClaim is missing',
    )
    // A provider of the team's own names its users with any claim the authorizer is told of.
    expect(
      configProblem({ ...url, signIn: { ...signIn, identityClaim: 'https://example.com/huddle_id' } }),
    ).toBe(undefined)
  })
})
