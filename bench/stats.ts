import { cpus, loadavg, platform, release, totalmem } from 'node:os'

/** The value at quantile `q` (0–1) by nearest rank; NaN for no values. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)))
  return sorted[rank - 1] ?? Number.NaN
}

/** Rounds for printing and for results.json, so diffs between runs stay readable. */
export function round(value: number, digits = 2): number {
  const scale = 10 ** digits
  return Math.round(value * scale) / scale
}

/** The machine a run happened on; figures from different machines are not comparable. */
export interface Machine {
  cpu: string
  cores: number
  memoryGiB: number
  node: string
  os: string
  /** One-minute load average when the run started (it lags: it still counts the last minute). */
  loadAtStart: number
  /** Share of all cores busy during one second sampled just before the run: near 0 on a quiet machine. */
  cpuBusyAtStart: number
}

/** Describes the machine and samples how busy it is for a second, before the run adds its own load. */
export async function describeMachine(): Promise<Machine> {
  const before = cpuTimes()
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const after = cpuTimes()
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    os: `${platform()} ${release()}`,
    loadAtStart: round(loadavg()[0] ?? 0),
    cpuBusyAtStart: round(1 - (after.idle - before.idle) / (after.total - before.total || 1)),
  }
}

function cpuTimes(): { idle: number; total: number } {
  let idle = 0
  let total = 0
  for (const { times } of cpus()) {
    idle += times.idle
    total += times.user + times.nice + times.sys + times.idle + times.irq
  }
  return { idle, total }
}

/** Prints rows as an aligned text table. */
export function printTable(header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((row) => row.map(String))]
  const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)))
  const line = (row: string[]) => row.map((cell, column) => cell.padStart(widths[column] ?? 0)).join('  ')
  console.log(line(header))
  console.log(widths.map((width) => '-'.repeat(width)).join('  '))
  for (const row of cells.slice(1)) console.log(line(row))
}

/** Describes the machine and prints it, with a note when something else is using the CPU already. */
export async function announceMachine(): Promise<Machine> {
  const machine = await describeMachine()
  console.log(
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, node ${machine.node}; ` +
      `${round(machine.cpuBusyAtStart * 100, 0)} % busy before the run`,
  )
  if (machine.cpuBusyAtStart > 0.1)
    console.log('note: something else is using the CPU; timings will be noisy')
  return machine
}

/** Puts every number under `value` into `figures`, each by its readable path (objects' keys joined by dots). */
export function addFigures(figures: Map<string, number>, prefix: string, value: unknown): void {
  if (typeof value === 'number') figures.set(prefix, value)
  else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value))
      addFigures(figures, prefix ? `${prefix}.${key}` : key, child)
  }
}

/** Prints the figures that moved by 10 % or more since the run of `ranAt` (timings here vary by about ±20 %). */
export function printMoved(before: Map<string, number>, after: Map<string, number>, ranAt: string): void {
  const moved: string[] = []
  let steady = 0
  for (const [path, value] of after) {
    const old = before.get(path)
    if (old === undefined) continue
    const change = old === 0 ? (value === 0 ? 0 : 1) : (value - old) / old
    if (Math.abs(change) >= 0.1)
      moved.push(`  ${path}: ${old} → ${value} (${change > 0 ? '+' : ''}${round(change * 100, 0)} %)`)
    else steady++
  }
  console.log(`\ncompared with the previous run (${ranAt}):`)
  console.log(moved.length > 0 ? moved.join('\n') : '  nothing moved by 10 % or more')
  console.log(`  ${steady} other figures within 10 %`)
}
