import { parseArgs } from 'node:util'
import { behavioursFromEnvironment, describeBehaviours, describeCounters } from '../local/aws-behaviours.js'
import { startLocalStack } from '../local/stack.js'
import { runLoad } from './load-run.js'
import { saveResults } from './results-file.js'
import { describeMachine } from './stats.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

/** `npm run load`: the load run against a local stack of its own; exits non-zero on any violation. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '300' },
      groups: { type: 'string', default: '20' },
      messages: { type: 'string', default: '3000' },
      cuts: { type: 'string', default: '5' },
      think: { type: 'string', default: '20000' },
      admin: { type: 'string', default: '0.05' },
      seed: { type: 'string', default: '1' },
      url: { type: 'string' },
    },
  })
  const machine = await describeMachine()
  const ranAt = new Date().toISOString()
  console.log(
    `${machine.cpu}, ${machine.cores} cores, node ${machine.node}; ` +
      `${Math.round(machine.cpuBusyAtStart * 100)} % busy before the run`,
  )
  // --url runs against a stack that is already up (npm start); otherwise one is started in memory.
  const stack = values.url
    ? undefined
    : await startLocalStack({ port: 0, aws: behavioursFromEnvironment(process.env) })
  const httpUrl = values.url ?? stack?.url ?? ''
  try {
    const report = await runLoad({
      httpUrl,
      connections: Number(values.connections),
      groups: Number(values.groups),
      messages: Number(values.messages),
      cutsPerSecond: Number(values.cuts),
      thinkMs: Number(values.think),
      adminRate: Number(values.admin),
      seed: Number(values.seed),
      log: (line) => console.log(line),
    })
    const { problems, ...figures } = report
    console.table(figures)
    if (problems.length > 0) console.log(problems.join('\n'))
    const aws = await fetch(`${httpUrl}/dev/aws-behaviours`).then((r) => (r.ok ? r.json() : undefined))
    if (aws)
      console.log(`AWS behaviours: ${describeBehaviours(aws.behaviours)}; ${describeCounters(aws.counters)}`)
    console.log(report.ok ? 'OK: every app was handed what it was owed, exactly once, in order' : 'FAILED')
    if (!report.ok) process.exitCode = 1
    // Only a run of its own stack, which kept every promise, goes into the report (docs/benchmark-results.md).
    else if (!values.url) await saveResults('load', { ranAt, machine, ...figures, aws })
  } finally {
    await stack?.stop()
  }
}

await main()
