import { readSettings, type SettingRows, type SettingValues } from '../settings.js'
import type { envNames } from './env-names.js'

type EnvName = (typeof envNames)[keyof typeof envNames] | 'AWS_REGION'

const deployHint = 'deploy with the CDK stack or run the local stack (npm start)'

/** A resource this function was deployed with; a clear error names what is missing. */
export function requiredEnv(name: EnvName): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: ${deployHint}`)
  return value
}

/** A setting of this function's deployment that may be absent (an emulator's endpoint, the worker's name). */
export function optionalEnv(name: EnvName): string | undefined {
  return process.env[name] || undefined
}

/** The settings of `rows` from this function's environment, each its default when unset; errors name the variable. */
export function settingsFromEnvironment<R extends SettingRows>(rows: R): SettingValues<R> {
  const { values, problems } = readSettings(
    rows,
    (_, row) => process.env[row.variable],
    (_, row) => row.variable,
    (_, row) => `${row.variable} is not set: ${deployHint}`,
  )
  if (problems.length > 0) throw new Error(problems.join('; '))
  return values
}

/** A port whose adapter is built on first use, so a function only needs the settings it really uses. */
export function lazily<T extends object>(build: () => T): T {
  let built: T | undefined
  return new Proxy({} as T, {
    get: (_, property) => {
      built ??= build()
      const value = Reflect.get(built, property)
      return typeof value === 'function' ? value.bind(built) : value
    },
  })
}
