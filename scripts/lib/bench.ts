import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index]!
}

export function summarize (samples: number[]): { p50: number, p99: number } {
  const sorted = [...samples].sort((a, b) => a - b)
  return { p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)) }
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export const round = (n: number, digits = 2): number => Number(n.toFixed(digits))

/** Print rows as an aligned table. */
export function table (rows: Array<Record<string, string | number>>): string {
  const columns = Object.keys(rows[0] ?? {})
  const widths = columns.map(c => Math.max(c.length, ...rows.map(r => String(r[c]).length)))
  const line = (cells: string[]): string => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')
  return [line(columns), line(widths.map(w => '-'.repeat(w))), ...rows.map(r => line(columns.map(c => String(r[c]))))].join('\n')
}

/** Save the result under bench-results/NAME-<time>.json and as bench-results/NAME-latest.json. */
export async function saveResult (name: string, result: unknown): Promise<string> {
  const dir = join(process.cwd(), 'bench-results')
  await mkdir(dir, { recursive: true })
  const body = JSON.stringify({ at: new Date().toISOString(), node: process.version, result }, null, 2) + '\n'
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  await writeFile(file, body)
  await writeFile(join(dir, `${name}-latest.json`), body)
  return file
}
