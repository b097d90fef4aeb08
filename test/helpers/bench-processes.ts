import { randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'

/**
 * Which node processes a bench run left behind. Benches run their nodes as
 * child processes (scripts/lib/scale-node.ts); two bench tests may run at once
 * in the suite, so a process counts only when it carries this run's tag in its
 * environment (children inherit it), not merely the script's name.
 */
export class BenchRun {
  readonly tag = randomUUID()

  /** The environment to start the bench with. */
  get env (): Record<string, string> {
    return { SPECMESH_BENCH_RUN: this.tag }
  }

  /** Pids of processes running `script` with this run's tag. */
  leftovers (script: string): string[] {
    const found: string[] = []
    for (const pid of readdirSync('/proc').filter(name => /^\d+$/.test(name))) {
      try {
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(script)) continue
        if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`SPECMESH_BENCH_RUN=${this.tag}`)) found.push(pid)
      } catch {
        // Gone meanwhile, or not ours to read.
      }
    }
    return found
  }
}
