import type { AlarmHistoryItem } from '@aws-sdk/client-cloudwatch'
import { describe, expect, it } from 'vitest'
import { actionVerdict, optionsOf, UsageError } from '../../bench/smoke.js'

/** An Action history item as CloudWatch records it: a summary, and the outcome as JSON. */
function actionItem(actionState: 'Succeeded' | 'Failed', error: string | null): AlarmHistoryItem {
  const topic = 'arn:aws:sns:eu-west-1:123456789012:Huddle-prod-MonitoringAlarmTopic-AbC'
  return {
    AlarmName: 'Huddle-prod-MonitoringJoinErrorRate-XyZ',
    HistoryItemType: 'Action',
    HistorySummary:
      actionState === 'Succeeded'
        ? `Successfully executed action ${topic}`
        : `Failed to execute action ${topic}. Received error: "${error}"`,
    HistoryData: JSON.stringify({ error, actionState, notificationResource: topic }),
  }
}

const notAuthorized =
  'Resource: arn:aws:cloudwatch:eu-west-1:123456789012:alarm:Huddle-prod-MonitoringJoinErrorRate-XyZ is not authorized to perform: SNS:Publish on resource: arn:aws:sns:eu-west-1:123456789012:Huddle-prod-MonitoringAlarmTopic-AbC because no resource-based policy allows the SNS:Publish action'

describe("the alarm step's verdict on an alarm's action history", () => {
  it('fails on a refused publish and points at the topic policy', () => {
    const verdict = actionVerdict([actionItem('Failed', notAuthorized)], 1)
    expect(verdict).toEqual({
      failed: notAuthorized,
      advice: expect.stringMatching(/^the alarm topic's policy/),
    })
  })

  it('fails when any of several actions failed, even after another succeeded', () => {
    const verdict = actionVerdict(
      [actionItem('Succeeded', null), actionItem('Failed', 'KMS key disabled')],
      2,
    )
    expect(verdict).toMatchObject({ failed: 'KMS key disabled', advice: expect.stringMatching(/KMS key/) })
  })

  it('passes once every action succeeded, and waits while one has not reported', () => {
    expect(actionVerdict([], 1)).toBeUndefined()
    expect(actionVerdict([actionItem('Succeeded', null)], 2)).toBeUndefined()
    expect(actionVerdict([actionItem('Succeeded', null)], 1)).toEqual({
      passed: expect.stringMatching(/^Successfully executed action arn:aws:sns:/),
    })
  })

  it('reads the summary when the history data is not JSON', () => {
    const item = { ...actionItem('Failed', notAuthorized), HistoryData: 'not json' }
    expect(actionVerdict([item], 1)).toMatchObject({ failed: expect.stringMatching(/^Failed to execute/) })
  })
})

describe("the smoke check's options", () => {
  it('takes a stage and a region instead of a URL, with the tokens from the environment', () => {
    expect(
      optionsOf(['--stage', 'prod', '--region', 'eu-west-1'], { SMOKE_TOKEN_A: 'a', SMOKE_TOKEN_B: 'b' }),
    ).toEqual({
      help: false,
      seconds: 15,
      stage: 'prod',
      region: 'eu-west-1',
      tokenA: 'a',
      tokenB: 'b',
    })
  })

  it('refuses a run with neither a stage nor a URL, or a stage without test users', () => {
    expect(() => optionsOf([], {})).toThrow(UsageError)
    expect(() => optionsOf([], {})).toThrow(/^give --stage or --url\n/)
    expect(() => optionsOf(['--stage', 'prod'], {})).toThrow(
      /^a deployed stage needs two test users: give --token-a/,
    )
  })

  it('refuses a stage that cannot name a stack, an unknown option and a timeout that is not seconds', () => {
    const env = { SMOKE_TOKEN_A: 'a', SMOKE_TOKEN_B: 'b' }
    expect(() => optionsOf(['--stage', 'Huddle prod'], env)).toThrow(UsageError)
    expect(() => optionsOf(['--url', 'http://localhost:3001', '--colour'], env)).toThrow(
      /Unknown option '--colour'/,
    )
    expect(() => optionsOf(['--url', 'http://localhost:3001', '--timeout', 'soon'], env)).toThrow(
      /--timeout soon/,
    )
  })
})
