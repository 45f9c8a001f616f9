/** cdk.json and `-c` values read into a HuddleConfig: stages, defaults, and every problem at once. */
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import {
  ConfigError,
  maxFanOutSliceSize,
  placeholderJwt,
  readHuddleConfig,
  stageSettingKeys,
} from '../../lib/config.js'
import { cdkJson, context, templateFor } from '../support/cdk-context.js'

describe('configuration', () => {
  /** The problems `readHuddleConfig` reports for these context values (none when it accepts them). */
  const problemsFor = (values: Record<string, unknown>): string[] => {
    try {
      readHuddleConfig((key) => values[key])
      return []
    } catch (thrown) {
      expect(thrown).toBeInstanceOf(ConfigError)
      return (thrown as ConfigError).problems
    }
  }
  const configFor = (values: Record<string, unknown>) => readHuddleConfig((key) => values[key])

  it('refuses to synthesize without the JWT settings, an alarm destination or named origins, saying what to set', () => {
    const problems = problemsFor({})
    expect(problems).toEqual([
      expect.stringContaining('jwksUrl, jwtIssuer, jwtAudience are not set for stage prod'),
      expect.stringContaining('alarms would notify no one'),
      expect.stringContaining('lets web pages on any origin use its bucket'),
    ])
    expect(problems[0]).toContain('stages.prod in cdk.json')
    expect(problems[0]).toContain('allowPlaceholderAuth=true')
    expect(problems[1]).toMatch(/alarmEmail .*alarmTopicArn .*alarmsWithoutNotification=true/)
    expect(problems[2]).toMatch(/set corsOrigins .*stages\.prod in cdk\.json.* -c allowAnyOrigin=true/)
  })

  it('lists which JWT settings are missing when only some are given, even with the placeholder opt-in', () => {
    for (const allowPlaceholderAuth of [undefined, 'true']) {
      expect(
        problemsFor({ ...context, jwtAudience: undefined, jwtIssuer: '', allowPlaceholderAuth }),
      ).toEqual([expect.stringContaining('jwtIssuer, jwtAudience are not set for stage prod')])
    }
    expect(problemsFor({ ...context, jwksUrl: undefined })).toEqual([
      expect.stringContaining('jwksUrl is not set for stage prod'),
    ])
  })

  it('uses placeholders, with a warning, only for a throwaway stack that opts in', () => {
    const { config: throwaway, warnings } = configFor({
      allowPlaceholderAuth: 'true',
      removalPolicy: 'destroy',
    })
    expect(throwaway).toMatchObject({ ...placeholderJwt, stageName: 'prod', removalPolicy: 'destroy' })
    expect(throwaway.corsOrigins).toEqual(['*'])
    expect(throwaway.messageRetentionDays).toBe(365)
    expect(throwaway.identityClaim).toBe('sub')
    expect(warnings).toEqual([expect.stringContaining('every token is refused')])
    // The opt-in is about tokens only: a stage that keeps its data still needs an alarm destination.
    expect(problemsFor({ allowPlaceholderAuth: true, corsOrigins: context.corsOrigins })).toEqual([
      expect.stringContaining('alarms would notify no one'),
    ])
  })

  it('needs an alarm destination only for a stage that keeps its data', () => {
    const jwt = {
      jwksUrl: context.jwksUrl,
      jwtIssuer: context.jwtIssuer,
      jwtAudience: context.jwtAudience,
      corsOrigins: context.corsOrigins,
    }
    expect(problemsFor({ ...jwt, removalPolicy: 'retain' })).toEqual([
      expect.stringContaining('stage prod keeps its data (removalPolicy retain)'),
    ])
    expect(problemsFor({ ...jwt, removalPolicy: 'destroy' })).toEqual([])
    expect(problemsFor({ ...jwt, alarmsWithoutNotification: 'true' })).toEqual([])
    expect(
      configFor({ ...jwt, alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:huddle-alarms' }).config,
    ).toMatchObject({ alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:huddle-alarms' })
    expect(problemsFor({ ...jwt, alarmEmail: 'ops@example.com', alarmsWithoutNotification: true })).toEqual([
      expect.stringContaining('alarmsWithoutNotification=true contradicts'),
    ])
  })

  it('lets web pages on any origin use the bucket only in a throwaway stage, or one that asks for it', () => {
    const anyOrigin = { ...context, corsOrigins: undefined }
    expect(problemsFor(anyOrigin)).toEqual([
      'stage prod keeps its data (removalPolicy retain) but lets web pages on any origin use its bucket ' +
        "(corsOrigins *, the default): set corsOrigins to your web app's origins, e.g. https://app.example.com, " +
        'under stages.prod in cdk.json or with -c, or pass -c allowAnyOrigin=true to keep *',
    ])
    expect(problemsFor({ ...context, corsOrigins: 'https://app.example.com,*' })).toHaveLength(1)
    expect(configFor({ ...anyOrigin, allowAnyOrigin: 'true' }).config.corsOrigins).toEqual(['*'])
    expect(configFor({ ...anyOrigin, removalPolicy: 'destroy' }).config.corsOrigins).toEqual(['*'])
    expect(configFor(context).config.corsOrigins).toEqual(['https://app.example.com'])
  })

  it.each([
    'arn:aws:sqs:us-east-1:123456789012:queue',
    'arn:aws:sns:us-east-1:1234:topic',
    'huddle-alarms',
    'arn:aws:sns:us-east-1:123456789012:bad name',
  ])('refuses alarmTopicArn %j', (arn) => {
    expect(problemsFor({ ...context, alarmTopicArn: arn })).toEqual([
      expect.stringContaining('alarmTopicArn must be an SNS topic ARN'),
    ])
  })

  it('takes the identity claim from context, namespaced names included, and refuses claims that name no user', () => {
    expect(configFor(context).config.identityClaim).toBe('sub')
    for (const claim of ['oid', 'preferred_username', 'https://example.com/huddle_id', 'custom:huddle_id']) {
      expect(configFor({ ...context, identityClaim: claim }).config.identityClaim).toBe(claim)
    }
    expect(problemsFor({ ...context, identityClaim: 'aud' })).toEqual([
      expect.stringContaining('identityClaim cannot be aud'),
    ])
    expect(problemsFor({ ...context, identityClaim: 'user id' })).toEqual([
      expect.stringContaining('identityClaim must be a claim name'),
    ])
  })

  it('takes the rate limits from context: positive rates, whole bursts', () => {
    expect(configFor(context).config).toMatchObject({
      messagesPerSecond: 5,
      messageBurst: 20,
      writesPerSecond: 20,
      writeBurst: 60,
    })
    expect(
      configFor({ ...context, messagesPerSecond: '0.5', messageBurst: 3, writesPerSecond: 100 }).config,
    ).toMatchObject({ messagesPerSecond: 0.5, messageBurst: 3, writesPerSecond: 100, writeBurst: 60 })
    expect(
      problemsFor({ ...context, messagesPerSecond: '0', messageBurst: '2.5', writesPerSecond: 'fast' }),
    ).toEqual([
      'messagesPerSecond must be a positive number, got "0"',
      'messageBurst must be a positive integer, got "2.5"',
      'writesPerSecond must be a positive number, got "fast"',
    ])
    expect(problemsFor({ ...context, writeBurst: -1 })).toEqual([
      'writeBurst must be a positive integer, got -1',
    ])
  })

  describe('stages', () => {
    const stages = {
      prod: { ...context, alarmEmail: 'prod-ops@example.com', throttleRate: 800 },
      dev: { ...context, alarmEmail: undefined, removalPolicy: 'destroy', identityClaim: 'oid' },
    }

    it('deploy prod from its cdk.json entry when no stage is named', () => {
      const { config: prod } = configFor({ stages })
      expect(prod).toMatchObject({ stageName: 'prod', alarmEmail: 'prod-ops@example.com', throttleRate: 800 })
      expect(prod.jwksUrl).toBe(context.jwksUrl)
    })

    it('are selected with -c stage=<name>, which also names the API stage and the stack', () => {
      const { config: dev } = configFor({ stages, stage: 'dev' })
      expect(dev).toMatchObject({
        stageName: 'dev',
        removalPolicy: 'destroy',
        identityClaim: 'oid',
        throttleRate: 500,
      })
      expect(dev.alarmEmail).toBeUndefined()
      templateFor({
        stages,
        stage: 'dev',
        ...Object.fromEntries(Object.keys(context).map((k) => [k, undefined])),
      }).hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: 'dev' })
    })

    it('let -c key=value win over the stage’s entry', () => {
      expect(
        configFor({ stages, stage: 'prod', throttleRate: '50', alarmEmail: 'me@example.com' }).config,
      ).toMatchObject({
        throttleRate: 50,
        alarmEmail: 'me@example.com',
      })
    })

    it('refuse an unknown stage, naming the known ones', () => {
      // Only that: every other message would be about settings nobody meant to deploy.
      expect(problemsFor({ stages, stage: 'prdo' })).toEqual([
        "unknown stage prdo: cdk.json's stages are prod, dev",
      ])
      // Without a stages entry in cdk.json at all, a stage is whatever -c gives.
      expect(configFor({ ...context, stage: 'qa' }).config.stageName).toBe('qa')
    })

    it('refuse unknown keys in any stage, and a stages value that is not an object', () => {
      const typo = {
        ...stages,
        staging: { jwksURL: 'https://x.example.com/jwks', alarmEmail: 'a@example.com' },
      }
      expect(problemsFor({ stages: typo })).toEqual([
        expect.stringContaining('stages.staging has unknown key jwksURL; a stage may set jwksUrl, jwtIssuer'),
      ])
      expect(problemsFor({ ...context, stages: '{"prod":{}}' })).toEqual([
        expect.stringContaining('stages must be an object'),
      ])
      expect(problemsFor({ stages: { prod: 'https://x.example.com' } })).toEqual(
        expect.arrayContaining([expect.stringContaining('stages.prod must be an object of settings')]),
      )
      expect(stageSettingKeys).not.toContain('stage')
    })

    it('refuse the old stageName key rather than deploy prod by mistake', () => {
      expect(problemsFor({ ...context, stageName: 'dev' })).toEqual([
        expect.stringContaining('stageName is replaced by stage: pass -c stage=<name>'),
      ])
    })

    it('in cdk.json: ci synthesizes offline with its own user pool and the web chat; prod says what it still needs', () => {
      const fromCdkJson = (values: Record<string, unknown>) => (key: string) =>
        values[key] ?? cdkJson.context[key]
      const ci = readHuddleConfig(fromCdkJson({ stage: 'ci' }))
      expect(ci.config).toMatchObject({
        stageName: 'ci',
        removalPolicy: 'destroy',
        userPool: { callbackUrls: [] },
        webChat: true,
        identityClaim: 'cognito:username',
      })
      expect(ci.warnings).toEqual([])
      expect(() => readHuddleConfig(fromCdkJson({}))).toThrow(
        /jwksUrl, jwtIssuer, jwtAudience are not set for stage prod/,
      )
    })
  })

  describe('the user pool and the web chat', () => {
    const noJwt = { ...context, jwksUrl: undefined, jwtIssuer: undefined, jwtAudience: undefined }

    it('take their settings from the stage; the pool names the identity claim itself', () => {
      const { config, warnings } = configFor({
        ...noJwt,
        userPool: true,
        webChat: 'true',
        userPoolDomainPrefix: 'chat-example',
        signInCallbackUrls: ['http://localhost:3001/', 'myapp://signed-in'],
      })
      expect(config).toMatchObject({
        userPool: {
          domainPrefix: 'chat-example',
          callbackUrls: ['http://localhost:3001/', 'myapp://signed-in'],
        },
        webChat: true,
        identityClaim: 'cognito:username',
      })
      expect(warnings).toEqual([])
      expect(configFor(context).config).toMatchObject({ webChat: false })
      expect(configFor(context).config.userPool).toBeUndefined()
    })

    it('refuse a stage that asks for the pool and names its own token settings, naming them', () => {
      expect(problemsFor({ ...context, userPool: 'true' })).toEqual([
        'stage prod asks for a user pool (userPool) and also names its own token settings (jwksUrl, jwtIssuer, ' +
          'jwtAudience): the stack fills jwksUrl, jwtIssuer, jwtAudience and identityClaim from the pool. Remove ' +
          'them under stages.prod in cdk.json or with -c, or remove userPool to keep your own provider',
      ])
      expect(problemsFor({ ...noJwt, userPool: 'true', identityClaim: 'sub' })).toEqual([
        expect.stringContaining('own token settings (identityClaim)'),
      ])
      expect(problemsFor({ ...noJwt, userPool: 'true', allowPlaceholderAuth: 'true' })).toEqual([
        expect.stringContaining('remove allowPlaceholderAuth'),
      ])
    })

    it('refuse the pool’s keys without the pool, a domain prefix Cognito refuses, and callbacks it refuses', () => {
      expect(
        problemsFor({
          ...context,
          userPoolDomainPrefix: 'chat',
          signInCallbackUrls: 'https://a.example.com/',
        }),
      ).toEqual([
        expect.stringContaining('userPoolDomainPrefix only applies with userPool=true'),
        expect.stringContaining('signInCallbackUrls only applies with userPool=true'),
      ])
      expect(problemsFor({ ...noJwt, userPool: 'true', stage: 'amazon-demo' })).toEqual([
        expect.stringContaining('Cognito refuses a prefix containing amazon: set userPoolDomainPrefix'),
      ])
      expect(
        problemsFor({ ...noJwt, userPool: 'true', stage: 'amazon-demo', userPoolDomainPrefix: 'chat' }),
      ).toEqual([])
      for (const prefix of ['Chat', 'my-aws-chat', '-chat', 'x'.repeat(64)]) {
        expect(problemsFor({ ...noJwt, userPool: 'true', userPoolDomainPrefix: prefix }), prefix).toEqual([
          expect.stringContaining('userPoolDomainPrefix must be 1-63 lowercase letters'),
        ])
      }
      expect(
        problemsFor({
          ...noJwt,
          userPool: 'true',
          signInCallbackUrls: 'http://chat.example.com/,https://a.example.com/#x,nope',
        }),
      ).toEqual([
        expect.stringContaining('"http://chat.example.com/" uses http:// on a host other than localhost'),
        expect.stringContaining('"https://a.example.com/#x" may not have a #fragment'),
        expect.stringContaining('"nope" is not a URL'),
      ])
    })

    it('let the web chat sign in with a stage’s own provider only through a client whose tokens the authorizer takes', () => {
      const own = { ...context, webChat: 'true', jwtAudience: 'client-1' }
      expect(configFor({ ...own, signInClientId: 'client-1' }).config.signInClientId).toBe('client-1')
      expect(problemsFor({ ...own, signInClientId: 'client-2' })).toEqual([
        expect.stringContaining('signInClientId (client-2) differs from jwtAudience (client-1)'),
      ])
      expect(problemsFor({ ...context, signInClientId: 'client-1', jwtAudience: 'client-1' })).toEqual([
        expect.stringContaining('set webChat=true or remove it'),
      ])
      expect(problemsFor({ ...noJwt, userPool: 'true', webChat: 'true', signInClientId: 'c' })).toEqual([
        expect.stringContaining('with userPool the stack makes the client'),
      ])
    })

    it('let a stage that keeps its data and whose only web app is the web chat name no other origin', () => {
      const { corsOrigins, ...unnamed } = context
      expect(configFor({ ...unnamed, webChat: 'true' }).config.corsOrigins).toEqual([])
      expect(problemsFor({ ...unnamed, webChat: 'true', corsOrigins: '*' })).toEqual([
        expect.stringContaining('lets web pages on any origin use its bucket'),
      ])
      expect(corsOrigins).toBeDefined()
    })
  })

  it('bin/app.ts fails the synth, listing what is missing, when prod has no settings', () => {
    const result = spawnSync(
      fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url)),
      ['bin/app.ts'],
      {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        encoding: 'utf8',
        env: {
          ...process.env,
          CDK_CONTEXT_JSON: JSON.stringify(cdkJson.context),
          CDK_OUTDIR: mkdtempSync(join(tmpdir(), 'huddle-synth-')),
        },
        timeout: 60_000,
      },
    )
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('Invalid Huddle configuration')
    expect(result.stderr).toContain('jwksUrl, jwtIssuer, jwtAudience are not set for stage prod')
    expect(result.stderr).toContain('alarms would notify no one')
  })

  it('parses CLI strings', () => {
    const values: Record<string, unknown> = {
      ...context,
      throttleRate: '50',
      throttleBurst: '100',
      removalPolicy: 'destroy',
      corsOrigins: 'https://a.example.com, https://b.example.com',
      messageRetentionDays: '30',
      apiGatewayLogsRole: 'false',
      accessLogs: 'true',
    }
    expect(configFor(values).config).toMatchObject({
      messageRetentionDays: 30,
      throttleRate: 50,
      throttleBurst: 100,
      removalPolicy: 'destroy',
      corsOrigins: ['https://a.example.com', 'https://b.example.com'],
      apiGatewayLogsRole: false,
      accessLogs: true,
    })
  })

  it('leaves API Gateway’s account-wide logging role to the account unless asked, and access logs with it', () => {
    expect(configFor(context).config).toMatchObject({ apiGatewayLogsRole: false, accessLogs: false })
    // A stack that sets the role logs by default; one that does not logs once told the role is there.
    expect(configFor({ ...context, apiGatewayLogsRole: true }).config).toMatchObject({
      apiGatewayLogsRole: true,
      accessLogs: true,
    })
    expect(configFor({ ...context, apiGatewayLogsRole: 'true', accessLogs: 'false' }).config).toMatchObject({
      apiGatewayLogsRole: true,
      accessLogs: false,
    })
    expect(problemsFor({ ...context, accessLogs: 'yes' })).toEqual([
      'accessLogs must be true or false, got "yes"',
    ])
  })

  it('rejects bad values, listing every problem at once', () => {
    expect(
      problemsFor({
        ...context,
        jwksUrl: 'http://insecure.example.com/jwks.json',
        throttleRate: '-1',
        removalPolicy: 'keep',
        alarmEmail: 'not-an-email',
        alarmsWithoutNotification: 'maybe',
      }),
    ).toEqual([
      expect.stringContaining('jwksUrl must be an https:// URL'),
      expect.stringContaining("removalPolicy must be 'retain' or 'destroy'"),
      expect.stringContaining('alarmEmail must be an email address'),
      expect.stringContaining('alarmsWithoutNotification must be true or false'),
      expect.stringContaining('throttleRate must be a positive number'),
    ])
  })

  it('takes fanOutSliceSize, 1,000 by default, up to what one asynchronous invocation carries', () => {
    expect(configFor(context).config.fanOutSliceSize).toBe(1000)
    expect(configFor({ ...context, fanOutSliceSize: '250' }).config.fanOutSliceSize).toBe(250)
    expect(configFor({ ...context, fanOutSliceSize: maxFanOutSliceSize }).config.fanOutSliceSize).toBe(
      maxFanOutSliceSize,
    )
    // The largest slice, at its worst: the longest identities, long connection ids, and event data of
    // 128,000 bytes that doubles when escaped again.
    const target = { iss: 'i'.repeat(128), connectionId: 'c'.repeat(64) }
    const slice = {
      id: `${'f'.repeat(36)}/${maxFanOutSliceSize}`,
      event: 'chat.message.delete',
      data: '"'.repeat(128_000),
      targets: Array.from({ length: maxFanOutSliceSize }, () => target),
    }
    expect(Buffer.byteLength(JSON.stringify(slice))).toBeLessThanOrEqual(1_000_000)
  })

  it.each([0, -1, 1.5, 'abc', '0'])('refuses fanOutSliceSize %j', (size) => {
    expect(problemsFor({ ...context, fanOutSliceSize: size })).toEqual([
      `fanOutSliceSize must be a positive integer, got ${JSON.stringify(size)}`,
    ])
  })

  it.each([maxFanOutSliceSize + 1, '5000'])(
    'refuses fanOutSliceSize %j, whose slices would not fit',
    (size) => {
      expect(problemsFor({ ...context, fanOutSliceSize: size })).toEqual([
        `fanOutSliceSize must be at most ${maxFanOutSliceSize}, so that a slice fits Lambda's 1 MB ` +
          `asynchronous invocation payload, got ${Number(size)}`,
      ])
    },
  )

  it('takes messageRetentionDays as a number from cdk.json', () => {
    expect(configFor({ ...context, messageRetentionDays: 90 }).config.messageRetentionDays).toBe(90)
  })

  it.each([0, -1, 'abc', 1.5, '0', '-1', '1.5', true])('refuses messageRetentionDays %j', (retention) => {
    expect(problemsFor({ ...context, messageRetentionDays: retention })).toEqual([
      `messageRetentionDays must be a positive integer, got ${JSON.stringify(retention)}`,
    ])
  })
})
