/** The settings table drives every function's settings: in the CDK stack, and alike in the local gateway. */
import { describe, expect, it } from 'vitest'
import { rateBuckets } from '../../lambdas/core/rate-limits.js'
import { authorizer, fanOutWorker, type RouteAccess, routes, workers } from '../../lambdas/routes.js'
import {
  chatSettings,
  defaultChatSettings,
  type FunctionAccess,
  receivers,
  settings,
  settingVariables,
} from '../../lambdas/settings.js'
import { functionEnvironment } from '../../local/gateway/environment.js'
import { localFanOutPostsPerSecond, localHandlerEnvironment } from '../../local/stack.js'
import { context, environmentsByFunction, templateFor } from '../support/cdk-context.js'

/** Every function the stack creates, by what names it in the route table, with its access. */
const functions: [string, FunctionAccess][] = [
  [authorizer.handler, 'authorizer'],
  ...routes.map((route): [string, RouteAccess] => [route.routeKey, route.access]),
  ...workers.map((worker): [string, RouteAccess] => [worker.handler, worker.access]),
]
const deployed = environmentsByFunction(templateFor({}))
const environmentOf = (name: string): Record<string, unknown> => deployed.get(name) ?? {}
const settingsIn = (environment: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(environment).filter(([key]) => settingVariables.has(key)))
const writingRoutes = routes.filter((route) => route.access.table === 'readWrite').map((r) => r.routeKey)

describe('the settings table', () => {
  it('keeps the deployed defaults', () => {
    expect(defaultChatSettings).toEqual({
      messageRetentionDays: 365,
      maxGroupSize: 10_000,
      groupsPerHour: 20,
      pendingInvitesPerIdentity: 100,
      attachmentBytes: 25 * 1024 * 1024,
      attachmentsPerMessage: 10,
      messagesPerSecond: 5,
      messageBurst: 20,
      writesPerSecond: 20,
      writeBurst: 60,
      typingIntervalSeconds: 3,
      typingMaxMembers: 100,
      presenceGraceSeconds: 20,
      presenceMaxMembers: 50,
      fanOutSliceSize: 1000,
      fanOutConcurrency: 32,
      fanOutPostsPerSecond: 5000,
    })
    expect(new Set(Object.values(settings).map((row) => row.variable)).size).toBe(
      Object.keys(settings).length,
    )
  })

  it('gives each function exactly the settings its rows send it, as its defaults', () => {
    for (const [name, access] of functions) {
      const expected = Object.fromEntries(
        Object.entries(settings)
          .filter(([, row]) => receivers[row.receivers].includes(access))
          .map(([key, row]) => [row.variable, String('fallback' in row ? row.fallback : context[key])]),
      )
      expect(settingsIn(environmentOf(name)), name).toEqual(expected)
    }
  })

  it('gives the authorizer alone the token settings, and the claim that names the user when configured', () => {
    expect(settingsIn(environmentOf(authorizer.handler))).toEqual({
      [settings.jwksUrl.variable]: context.jwksUrl,
      [settings.jwtIssuer.variable]: context.jwtIssuer,
      [settings.jwtAudience.variable]: context.jwtAudience,
      [settings.identityClaim.variable]: 'sub',
    })
    const claim = 'https://example.com/huddle_id'
    const configured = environmentsByFunction(templateFor({ identityClaim: claim }))
    expect(configured.get(authorizer.handler)).toMatchObject({
      [settings.jwksUrl.variable]: context.jwksUrl,
      [settings.identityClaim.variable]: claim,
    })
  })

  it('gives the functions that write the table the limits (retention, group size, rates…), and no others', () => {
    expect(writingRoutes).toEqual(expect.arrayContaining(['message', 'join', 'leave', 'edit', 'delete']))
    // Every limited action's function gets the rates, so every one takes its tokens.
    for (const action of Object.keys(rateBuckets)) expect(writingRoutes).toContain(action)
    for (const route of routes) {
      const variables = environmentOf(route.routeKey)
      const writes = route.access.table === 'readWrite'
      expect(variables[settings.messageRetentionDays.variable], route.routeKey).toBe(
        writes ? '365' : undefined,
      )
      expect(
        [
          settings.messagesPerSecond.variable,
          settings.messageBurst.variable,
          settings.writesPerSecond.variable,
          settings.writeBurst.variable,
        ].map((name) => variables[name]),
        route.routeKey,
      ).toEqual(writes ? ['5', '20', '20', '60'] : [undefined, undefined, undefined, undefined])
    }
    // The worker writes the table too (its slice records), so the same rule gives it the same settings.
    const withRetention = [...deployed.values()].filter((variables) =>
      Object.hasOwn(variables, settings.messageRetentionDays.variable),
    )
    const writingWorkers = workers.filter((worker) => worker.access.table === 'readWrite')
    expect(withRetention).toHaveLength(writingRoutes.length + writingWorkers.length)
  })

  it('hands the configured values to the functions that receive them', () => {
    const given = {
      messageRetentionDays: '30',
      maxGroupSize: '500',
      groupsPerHour: '5',
      pendingInvitesPerIdentity: '7',
      attachmentBytes: '1000',
      attachmentsPerMessage: '3',
      messagesPerSecond: '2.5',
      messageBurst: '10',
      writesPerSecond: '40',
      writeBurst: '100',
      typingIntervalSeconds: '2.5',
      typingMaxMembers: '50',
      presenceGraceSeconds: '5',
      presenceMaxMembers: '20',
      fanOutSliceSize: '250',
      fanOutConcurrency: '16',
      fanOutPostsPerSecond: '2000',
    } satisfies Record<keyof typeof chatSettings, string>
    const configured = environmentsByFunction(templateFor(given))
    for (const [name, access] of functions) {
      for (const [key, value] of Object.entries(given)) {
        const row = chatSettings[key as keyof typeof chatSettings]
        const receives = receivers[row.receivers].includes(access)
        expect(configured.get(name)?.[row.variable], `${name} ${key}`).toBe(receives ? value : undefined)
      }
    }
    const invokers = routes.filter((route) => route.access.invoke?.includes(fanOutWorker.handler))
    const sizes = [...configured.values()].flatMap((variables) => {
      const size = variables[settings.fanOutSliceSize.variable]
      return size === undefined ? [] : [size]
    })
    expect(sizes).toEqual(invokers.map(() => '250'))
  })

  it('drives the local gateway as it drives the stack: a function gets a setting in one if and only if in the other', () => {
    const local = localHandlerEnvironment('http://127.0.0.1:1', 'http://127.0.0.1:2', 'http://127.0.0.1:3')
    const endpoints = { lambda: 'http://127.0.0.1:1' }
    for (const [name, access] of functions) {
      const handler =
        access === 'authorizer' ? name : (routes.find((r) => r.routeKey === name)?.handler ?? name)
      const locally = settingsIn(functionEnvironment(handler, access, local, endpoints))
      const inStack = settingsIn(environmentOf(name))
      expect(Object.keys(locally).sort(), name).toEqual(Object.keys(inStack).sort())
      // The limits are the same values too; the token settings name each side's own issuer. The workers'
      // budget is the same share of each side's account rate, which the local stack halves.
      for (const row of Object.values(chatSettings)) {
        const expected =
          row === chatSettings.fanOutPostsPerSecond && inStack[row.variable] !== undefined
            ? String(localFanOutPostsPerSecond)
            : inStack[row.variable]
        expect(locally[row.variable], `${name} ${row.variable}`).toBe(expected)
      }
    }
  })
})
