import { request } from 'node:http'
import { decodeJwt } from 'jose'
import { describe, expect, it } from 'vitest'
import { httpUrl, tokenFor, unique } from '../support/huddle.js'

/** A GET with the Host header a browser at `host` would send. */
function getAs(host: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const asked = request(new URL(path, httpUrl()), { headers: { host } }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk) => {
        body += chunk
      })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
    })
    asked.on('error', reject)
    asked.end()
  })
}

describe("the local stack's OpenID provider", () => {
  it('is the issuer of /dev/token too, publishes the same key, and is what config.json names', async () => {
    const issuer = `${httpUrl()}/oidc`
    const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()
    expect(discovery).toMatchObject({
      issuer,
      code_challenge_methods_supported: ['S256'],
      revocation_endpoint: `${issuer}/token/revocation`,
      id_token_signing_alg_values_supported: expect.arrayContaining(['ES256']),
    })
    const [providerKeys, stackKeys] = await Promise.all(
      [discovery.jwks_uri, `${httpUrl()}/.well-known/jwks.json`].map(async (url) =>
        (await fetch(url)).json(),
      ),
    )
    expect(providerKeys.keys.map((key: { kid: string }) => key.kid)).toEqual(
      stackKeys.keys.map((key: { kid: string }) => key.kid),
    )
    expect(decodeJwt(await tokenFor(unique('dave')))).toMatchObject({ iss: issuer, aud: 'huddle' })

    // The WebSocket follows the host the page was loaded from; sign-in is the provider, either way.
    const { port } = new URL(httpUrl())
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      const config = await getAs(host, '/config.json')
      expect(JSON.parse(config.body)).toEqual({
        websocketUrl: `ws://${host}`,
        signIn: { issuer, clientId: 'huddle', scope: 'openid', identityClaim: 'sub' },
      })
    }
  })

  it('requires PKCE with S256 and a registered redirect, and says so on a page of its own', async () => {
    const authorize = (params: Record<string, string>) =>
      fetch(`${httpUrl()}/oidc/auth?${new URLSearchParams(params)}`, { redirect: 'manual' })
    const base = { client_id: 'huddle', response_type: 'code', scope: 'openid', state: 's' }
    const redirect_uri = `${httpUrl()}/`

    const noChallenge = await authorize({ ...base, redirect_uri })
    const back = new URL(noChallenge.headers.get('location') ?? '')
    expect(`${back.origin}${back.pathname}`).toBe(redirect_uri)
    expect(back.searchParams.get('error')).toBe('invalid_request')
    expect(back.searchParams.get('error_description')).toMatch(/requires PKCE/)

    const plain = await authorize({
      ...base,
      redirect_uri,
      code_challenge: 'x'.repeat(43),
      code_challenge_method: 'plain',
    })
    expect(new URL(plain.headers.get('location') ?? '').searchParams.get('error')).toBe('invalid_request')

    // A redirect the client does not register goes nowhere: the provider's own page says what failed.
    const elsewhere = await authorize({
      ...base,
      redirect_uri: 'https://attacker.example/',
      code_challenge: 'x'.repeat(43),
      code_challenge_method: 'S256',
    })
    expect(elsewhere.status).toBe(400)
    expect(elsewhere.headers.get('location')).toBeNull()
    expect(elsewhere.headers.get('content-security-policy')).toContain("default-src 'none'")
    expect(await elsewhere.text()).toContain('Go back to the web chat and choose Sign in again.')
  })
})
