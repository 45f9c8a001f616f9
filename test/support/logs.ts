import { appendFileSync, readFileSync } from 'node:fs'
import { inject } from 'vitest'
import type { FunctionOutput } from '../../local/functions.js'

// What the functions and the local gateways log while the tests run goes to one file of the run (the global
// setup names it), not the screen: a green run prints no error a test provoked on purpose, and a test that
// expects one reads it here.

/** A line a function wrote (its structured log entry, when it is JSON), or a gateway's own diagnostic. */
export interface LoggedLine {
  source: string
  line: string
  entry?: Record<string, unknown>
}

/** Appends a line of `source` (a function's name, or 'gateway') to the log file. */
export function keepIn(file: string): (source: string, line: string) => void {
  return (source, line) => appendFileSync(file, `${JSON.stringify({ source, line })}\n`)
}

const logFile = () => inject('logFile')

/** A function's output, kept in the run's log file. */
export const functionOutput: FunctionOutput = (functionName, line) => keepIn(logFile())(functionName, line)

/** A gateway's diagnostics, kept in the run's log file. */
export const gatewayLog = (line: string) => keepIn(logFile())('gateway', line)

/** Both, for a gateway a test starts of its own. */
export const quietGateway = { log: gatewayLog, functionOutput }

/** Every line logged so far in this run, by any test file's functions and gateways. */
export function loggedLines(): LoggedLine[] {
  return readFileSync(logFile(), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((text) => {
      const { source, line } = JSON.parse(text) as { source: string; line: string }
      return {
        source,
        line,
        ...(line.startsWith('{') && { entry: JSON.parse(line) as Record<string, unknown> }),
      }
    })
}

/** The structured entries logged so far that carry every field of `fields` with that value. */
export function loggedEntries(fields: Record<string, unknown>): Record<string, unknown>[] {
  return loggedLines()
    .flatMap(({ entry }) => (entry ? [entry] : []))
    .filter((entry) => Object.entries(fields).every(([key, value]) => entry[key] === value))
}
