/** A stage's optional user pool and deployed web chat, on the synthesized template; and a stage without them. */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { App, Validations } from 'aws-cdk-lib'
import { Match, Template } from 'aws-cdk-lib/assertions'
import type { PreSignUpTriggerEvent } from 'aws-lambda'
import { AwsSolutionsChecks } from 'cdk-nag'
import { describe, expect, it } from 'vitest'
import { handler as preSignUp, userNameProblem } from '../../lambdas/handlers/sign-up.js'
import { settings } from '../../lambdas/settings.js'
import { readHuddleConfig } from '../../lib/config.js'
import { HuddleStack } from '../../lib/huddle-stack.js'
import { contentSecurityPolicy } from '../../web/build.js'
import {
  cdkJson,
  context,
  environmentsByFunction,
  type Resource,
  templateFor,
} from '../support/cdk-context.js'
import { rendered } from '../support/stack-template.js'

/**
 * Synthesizes a stage (without bundling) with cdk-nag, findings reported rather than thrown, and keeps its
 * assembly, where config.json's asset and the validation report are written.
 */
function synthesize(values: Record<string, unknown>) {
  const app = new App({
    context: {
      ...cdkJson.context,
      'aws:cdk:bundling-stacks': [],
      '@aws-cdk/core:failSynthOnValidationErrors': false,
    },
  })
  const stack = new HuddleStack(app, 'Huddle', { config: readHuddleConfig((key) => values[key]).config })
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app))
  const directory = app.synth().directory
  const nagErrors = () =>
    (
      JSON.parse(readFileSync(join(directory, 'validation-report.json'), 'utf8')) as {
        pluginReports: { violations: { ruleName: string; severity: string }[] }[]
      }
    ).pluginReports
      .flatMap((plugin) => plugin.violations)
      .filter((v) => v.severity === 'error')
      .map((v) => v.ruleName)
  /** The rules acknowledged anywhere in the app, without their findings' details. */
  const acknowledged = () =>
    new Set(
      app.node
        .findAll()
        .flatMap((construct) => construct.node.metadata)
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
        .map(([id, reason]) => {
          expect(reason.length, id).toBeGreaterThan(20)
          return id.replace(/^[A-Za-z]+::/, '').replace(/\[.*$/, '')
        }),
    )
  const template = Template.fromStack(stack)
  const resources = template.toJSON().Resources as Record<string, Resource>
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type)
  const only = (type: string): [string, Resource] => {
    const found = ofType(type)
    expect(
      found.map(([id]) => id),
      type,
    ).toHaveLength(1)
    return found[0] as [string, Resource]
  }
  /** config.json as the deployment writes it, each deploy-time value shown as rendered() shows it. */
  const configJson = (): unknown => {
    const [, entry] = ofType('Custom::CDKBucketDeployment').find(([, d]) =>
      (d.Properties.Include as string[] | undefined)?.includes('config.json'),
    ) ?? [undefined, undefined]
    if (!entry) throw new Error('no deployment writes config.json')
    const keys = entry.Properties.SourceObjectKeys as string[]
    const markers = entry.Properties.SourceMarkers as Record<string, unknown>[]
    for (const [i, key] of keys.entries()) {
      const file = join(directory, `asset.${key.replace(/\.zip$/, '')}`, 'config.json')
      if (!existsSync(file)) continue
      let text = readFileSync(file, 'utf8')
      for (const [marker, value] of Object.entries(markers[i] ?? {}))
        text = text.replaceAll(marker, rendered(value))
      return JSON.parse(text)
    }
    throw new Error('no source of the deployment holds config.json')
  }
  return { template, resources, ofType, only, configJson, nagErrors, acknowledged }
}

const ownJwt = { jwksUrl: undefined, jwtIssuer: undefined, jwtAudience: undefined }
const region = 'AWS::Region'
const suffix = 'AWS::URLSuffix'

describe('a stage with the user pool and the web chat', () => {
  const { template, resources, ofType, only, configJson, nagErrors, acknowledged } = synthesize({
    ...context,
    ...ownJwt,
    stage: 'demo',
    userPool: 'true',
    webChat: 'true',
    signInCallbackUrls: 'http://localhost:3001/',
  })
  const [poolId, pool] = only('AWS::Cognito::UserPool')
  const [clientId, client] = only('AWS::Cognito::UserPoolClient')
  const [distributionId, distribution] = only('AWS::CloudFront::Distribution')
  const [avatarsId] = ofType('AWS::S3::Bucket').find(([id]) => id.startsWith('Avatars')) ?? ['no avatars']
  const webChatUrl = `https://${distributionId}.DomainName/`
  const issuer = `https://cognito-idp.${region}.${suffix}/${poolId}`

  it('has a pool for self sign-up with a case-insensitive user name, a sound password policy and no e-mail', () => {
    expect(pool.Properties).toMatchObject({
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: false },
      UsernameConfiguration: { CaseSensitive: false },
      AutoVerifiedAttributes: [],
      Policies: {
        PasswordPolicy: {
          MinimumLength: 12,
          RequireLowercase: true,
          RequireUppercase: true,
          RequireNumbers: true,
          RequireSymbols: true,
        },
      },
    })
    expect(pool.Properties.UsernameAttributes).toBeUndefined()
    expect(pool.Properties.AliasAttributes).toBeUndefined()
    expect(pool.Properties.Schema).toBeUndefined()
    template.hasResourceProperties('AWS::Cognito::UserPoolDomain', {
      Domain: { 'Fn::Join': ['', ['huddle-demo-', { Ref: 'AWS::AccountId' }]] },
      UserPoolId: { Ref: poolId },
    })
  })

  it('has one public client: the code flow with the OpenID scopes, sending users back to the web chat', () => {
    expect(client.Properties).toMatchObject({
      UserPoolId: { Ref: poolId },
      GenerateSecret: false,
      AllowedOAuthFlowsUserPoolClient: true,
      AllowedOAuthFlows: ['code'],
      AllowedOAuthScopes: ['openid', 'profile', 'email'],
      SupportedIdentityProviders: ['COGNITO'],
      PreventUserExistenceErrors: 'ENABLED',
      EnableTokenRevocation: true,
      // The admin flow needs IAM credentials: scripts' test tokens, never a browser's.
      ExplicitAuthFlows: ['ALLOW_ADMIN_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
      IdTokenValidity: 60,
    })
    for (const urls of [client.Properties.CallbackURLs, client.Properties.LogoutURLs]) {
      expect((urls as unknown[]).map(rendered)).toEqual([webChatUrl, 'http://localhost:3001/'])
    }
  })

  it('fills the authorizer’s settings from the pool: its keys, its issuer, the client and the user name', () => {
    const environment = environmentsByFunction(template).get('authorizer') ?? {}
    expect(rendered(environment[settings.jwksUrl.variable])).toBe(`${issuer}/.well-known/jwks.json`)
    expect(rendered(environment[settings.jwtIssuer.variable])).toBe(issuer)
    expect(environment[settings.jwtAudience.variable]).toEqual({ Ref: clientId })
    expect(environment[settings.identityClaim.variable]).toBe('cognito:username')
  })

  it('checks every new user name with the pre-sign-up trigger, which Cognito may invoke', () => {
    const triggerId = rendered(
      pool.Properties.LambdaConfig && (pool.Properties.LambdaConfig as never)['PreSignUp'],
    )
    const trigger = resources[triggerId.replace(/\.Arn$/, '')]
    expect(trigger?.Type).toBe('AWS::Lambda::Function')
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'cognito-idp.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [triggerId.replace(/\.Arn$/, ''), 'Arn'] },
      SourceArn: { 'Fn::GetAtt': [poolId, 'Arn'] },
    })
  })

  it('serves the web chat from a private bucket that only the distribution reads (Origin Access Control), over HTTPS', () => {
    const config = distribution.Properties.DistributionConfig as Record<string, unknown> & {
      Origins: { DomainName: unknown; OriginAccessControlId: unknown; S3OriginConfig: unknown }[]
      DefaultCacheBehavior: Record<string, unknown>
    }
    expect(config.DefaultRootObject).toBe('index.html')
    expect(config.DefaultCacheBehavior.ViewerProtocolPolicy).toBe('redirect-to-https')
    const [origin] = config.Origins
    const filesId = rendered(origin?.DomainName).replace(/\.RegionalDomainName$/, '')
    const [oacId] = only('AWS::CloudFront::OriginAccessControl')
    expect(origin?.OriginAccessControlId).toEqual({ 'Fn::GetAtt': [oacId, 'Id'] })
    expect(origin?.S3OriginConfig).toEqual({ OriginAccessIdentity: '' })
    const files = resources[filesId]
    expect(files?.Type).toBe('AWS::S3::Bucket')
    expect(files?.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    })
    expect(files?.Properties.WebsiteConfiguration).toBeUndefined()
    const [, policy] = ofType('AWS::S3::BucketPolicy').find(
      ([, p]) => rendered(p.Properties.Bucket) === filesId,
    ) ?? ['', { Type: '', Properties: { PolicyDocument: { Statement: [] } } }]
    const statements = (policy.Properties.PolicyDocument as { Statement: Record<string, never>[] }).Statement
    const reads = statements.filter(
      (s) => JSON.stringify(s.Principal) === '{"Service":"cloudfront.amazonaws.com"}',
    )
    expect(reads.map((s) => [s.Effect, s.Action])).toEqual([['Allow', 's3:GetObject']])
    const condition = reads[0]?.Condition as { StringEquals?: Record<string, unknown> } | undefined
    const sourceArn = rendered(condition?.StringEquals?.['AWS:SourceArn'])
    expect(sourceArn).toContain(`distribution/${distributionId}`)
  })

  it('sends the security headers and the Content-Security-Policy the shared function makes, with the deployed origins', () => {
    const [headersId, headers] = only('AWS::CloudFront::ResponseHeadersPolicy')
    const behavior = (distribution.Properties.DistributionConfig as { DefaultCacheBehavior: unknown })
      .DefaultCacheBehavior
    expect(behavior).toMatchObject({ ResponseHeadersPolicyId: { Ref: headersId } })
    const security = (headers.Properties.ResponseHeadersPolicyConfig as { SecurityHeadersConfig: never })
      .SecurityHeadersConfig as Record<string, Record<string, unknown>>
    const bucket = `https://${avatarsId}.s3.${region}.${suffix}`
    expect(rendered(security.ContentSecurityPolicy?.ContentSecurityPolicy)).toBe(
      contentSecurityPolicy({
        connect: [
          `wss://${only('AWS::ApiGatewayV2::Api')[0]}.execute-api.${region}.${suffix}`,
          bucket,
          `https://cognito-idp.${region}.${suffix}`,
          `https://huddle-demo-AWS::AccountId.auth.${region}.amazoncognito.com`,
        ],
        images: [bucket],
      }),
    )
    expect(security).toMatchObject({
      StrictTransportSecurity: {
        AccessControlMaxAgeSec: 31_536_000,
        IncludeSubdomains: true,
        Override: true,
      },
      ContentTypeOptions: { Override: true },
      FrameOptions: { FrameOption: 'DENY', Override: true },
      ReferrerPolicy: { ReferrerPolicy: 'no-referrer', Override: true },
    })
  })

  it('never serves index.html or config.json stale, keeps the scripts (same names every build) 5 minutes, and invalidates the edge on deploy', () => {
    const deployments = ofType('Custom::CDKBucketDeployment').map(([, d]) => d.Properties)
    expect(
      deployments.map((d) => ({
        include: d.Include,
        exclude: d.Exclude,
        cacheControl: (d.SystemMetadata as Record<string, string>)['cache-control'],
      })),
    ).toEqual([
      { include: ['index.html', 'config.json'], exclude: ['*'], cacheControl: 'no-cache' },
      { include: undefined, exclude: ['index.html', 'config.json'], cacheControl: 'public, max-age=300' },
    ])
    for (const deployment of deployments) {
      expect(deployment).toMatchObject({ DistributionId: { Ref: distributionId }, DistributionPaths: ['/*'] })
    }
  })

  it('writes config.json at deploy time: the stage’s WebSocket URL and the pool’s sign-in settings', () => {
    expect(configJson()).toEqual({
      websocketUrl: `wss://${only('AWS::ApiGatewayV2::Api')[0]}.execute-api.${region}.${suffix}/demo`,
      signIn: { issuer, clientId, scope: 'openid profile email', identityClaim: 'cognito:username' },
    })
  })

  it('adds the distribution’s origin to the avatar bucket’s CORS origins, once both exist', () => {
    expect(resources[avatarsId]?.Properties.CorsConfiguration).toBeUndefined()
    const [, cors] = only('Custom::AWS')
    const call = JSON.parse(rendered(cors.Properties.Create))
    expect(call).toMatchObject({ service: 'S3', action: 'putBucketCors', parameters: { Bucket: avatarsId } })
    expect(call.parameters.CORSConfiguration.CORSRules).toEqual([
      {
        AllowedMethods: ['PUT', 'GET'],
        AllowedOrigins: [context.corsOrigins, `https://${distributionId}.DomainName`],
        AllowedHeaders: ['Content-Type', 'Content-Length'],
        MaxAgeSeconds: 3600,
      },
    ])
    expect(cors.Properties.Update).toEqual(cors.Properties.Create)
  })

  it('passes cdk-nag, acknowledging only the reviewed rules, each with its reason', () => {
    expect(nagErrors()).toEqual([])
    expect([...acknowledged()].sort()).toEqual([
      'AwsSolutions-APIG1',
      'AwsSolutions-APIG4',
      // The CloudFront distribution: default certificate, no geo restriction, WAF or standard logs.
      'AwsSolutions-CFR1',
      'AwsSolutions-CFR2',
      'AwsSolutions-CFR3',
      'AwsSolutions-CFR4',
      // The pool: MFA offered, not required; the Essentials plan.
      'AwsSolutions-COG2',
      'AwsSolutions-COG8',
      // The CDK's own deployment handlers' roles and runtime.
      'AwsSolutions-IAM4',
      'AwsSolutions-IAM5',
      'AwsSolutions-L1',
      'AwsSolutions-S1',
      'AwsSolutions-SQS3',
    ])
  })

  it('prints the web chat’s URL, the pool, its client, its sign-in pages and its issuer', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>
    expect(rendered(outputs.WebChatUrl?.Value)).toBe(webChatUrl)
    expect(outputs.UserPoolId?.Value).toEqual({ Ref: poolId })
    expect(outputs.UserPoolClientId?.Value).toEqual({ Ref: clientId })
    expect(rendered(outputs.TokenIssuer?.Value)).toBe(issuer)
    expect(rendered(outputs.SignInDomain?.Value)).toMatch(
      /^https:\/\/UserPoolSignIn\w+\.auth\.AWS::Region\.amazoncognito\.com$/,
    )
  })
})

describe('a stage with its own provider and the web chat', () => {
  const { configJson, template } = synthesize({
    ...context,
    jwtAudience: 'web-chat-client',
    signInClientId: 'web-chat-client',
    identityClaim: 'oid',
    webChat: 'true',
  })

  it('signs the web chat in at its issuer with the named client, and lets the page reach the issuer', () => {
    expect(configJson()).toMatchObject({
      signIn: {
        issuer: context.jwtIssuer,
        clientId: 'web-chat-client',
        scope: 'openid profile email',
        identityClaim: 'oid',
      },
    })
    template.resourceCountIs('AWS::Cognito::UserPool', 0)
    const [, headers] =
      Object.entries(template.findResources('AWS::CloudFront::ResponseHeadersPolicy'))[0] ?? []
    expect(rendered(JSON.stringify(headers))).toContain(new URL(String(context.jwtIssuer)).origin)
  })

  it('offers only a pasted token without a client id', () => {
    const { configJson: pasteOnly } = synthesize({ ...context, webChat: 'true' })
    expect(Object.keys(pasteOnly() as object)).toEqual(['websocketUrl'])
  })
})

describe('a stage without them', () => {
  const template = templateFor({})

  it('creates no pool, distribution or deployment, and keeps the avatar bucket’s own CORS rule', () => {
    for (const type of [
      'AWS::Cognito::UserPool',
      'AWS::Cognito::UserPoolClient',
      'AWS::CloudFront::Distribution',
      'AWS::CloudFront::ResponseHeadersPolicy',
      'Custom::CDKBucketDeployment',
      'Custom::AWS',
    ]) {
      template.resourceCountIs(type, 0)
    }
    template.resourceCountIs('AWS::S3::Bucket', 1)
    template.hasResourceProperties('AWS::S3::Bucket', {
      CorsConfiguration: { CorsRules: [Match.objectLike({ AllowedOrigins: [context.corsOrigins] })] },
    })
    const outputs = Object.keys(template.toJSON().Outputs as object)
    for (const output of ['WebChatUrl', 'UserPoolId', 'UserPoolClientId'])
      expect(outputs).not.toContain(output)
  })
})

describe('the pre-sign-up trigger', () => {
  const event = (userName: string, triggerSource = 'PreSignUp_SignUp') =>
    ({ userName, triggerSource, response: { autoConfirmUser: false } }) as unknown as PreSignUpTriggerEvent

  it('takes user names that are identities, in lower case, and confirms a self sign-up at once', async () => {
    for (const name of ['alice', 'bob.smith', 'carol_1', 'dave@example.com', 'e-2:x']) {
      expect(userNameProblem(name), name).toBeUndefined()
    }
    expect((await preSignUp(event('alice'))).response.autoConfirmUser).toBe(true)
    expect((await preSignUp(event('alice', 'PreSignUp_AdminCreateUser'))).response.autoConfirmUser).toBe(
      false,
    )
  })

  it('refuses the others, saying which characters a name may have', async () => {
    for (const name of ['Alice', 'bob smith', 'émile', '..', 'x'.repeat(129), 'a/b']) {
      expect(userNameProblem(name), name).toMatch(
        /lowercase letters \(a-z\), digits and the characters _ \. : @ -/,
      )
    }
    await expect(preSignUp(event('Bob Smith'))).rejects.toThrow(/may use only lowercase letters/)
  })
})
