import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const FIXTURES = fileURLToPath(new URL('../../fixtures/handlers/', import.meta.url))

export const fixture = (name: string): string => `${FIXTURES}${name}`

/** Polls `condition` until it holds; fails after `timeoutMs`. */
export async function waitFor (condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const start = Date.now()
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

interface ProcStat { pid: number, state: string, ppid: number }

function procStat (pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return { pid, state: rest[0], ppid: Number(rest[1]) }
  } catch {
    return undefined
  }
}

/** Gone, or a zombie nobody of ours is responsible for reaping (an orphan left to init). */
export function processDead (pid: number): boolean {
  const stat = procStat(pid)
  return stat === undefined || stat.state === 'Z'
}

/** Direct children of this process, zombies included. */
export function childrenOf (ppid: number): ProcStat[] {
  const out: ProcStat[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = procStat(Number(entry))
    if (stat !== undefined && stat.ppid === ppid) out.push(stat)
  }
  return out
}
