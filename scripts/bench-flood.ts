/**
 * npm run bench:flood — the flood test's scenario with 20 s floods
 * (scripts/lib/flood-scenario.ts): four honest nodes, a hostile peer in a
 * separate process sending garbage, then signed-but-useless job calls, at the
 * highest rate it reaches, each flood between two no-flood baselines (its ratio
 * is to their pooled samples). Prints a table; the last line is one JSON object
 * (also saved under bench-results/).
 */
import { runFloodScenario } from './lib/flood-scenario.ts'
import { saveResult, table } from './lib/bench.ts'

const PHASE_MS = Number(process.env.BENCH_FLOOD_PHASE_MS ?? 20_000)
const result = await runFloodScenario({ phaseMs: PHASE_MS, log: line => console.error(line) })
console.log(table(result.phases.map(p => ({
  phase: p.phase,
  jobs: p.jobs,
  failed: p.jobsFailed,
  'job p99 ms': p.jobP99Ms,
  'baselines job p99 ms': p.baselineJobP99Ms ?? '-',
  'job ×': p.jobRatio ?? '-',
  'job p90 ×': p.jobP90Ratio ?? '-',
  'spec p99 ms': p.specP99Ms,
  'baselines spec p99 ms': p.baselineSpecP99Ms ?? '-',
  'spec ×': p.specRatio ?? '-',
  'spec p90 ×': p.specP90Ratio ?? '-',
  'attacker msgs/s': p.attackerPerSecond ?? '-',
  'attacker best msgs/s': p.attackerPeakPerSecond ?? '-',
  'outran allowance ms': p.attackerDrainedAfterMs ?? '-',
  'throttled ms': p.throttledAfterMs ?? '-',
  'graylisted ms': p.graylistedAfterMs ?? '-',
  'heap MiB': p.heapAfterMiB ?? result.heapAfterBaselineMiB,
  'heap no-flood MiB': p.heapBaselineMiB ?? result.heapBeforeBaselineMiB
}))))
const summary = { phaseMs: PHASE_MS, ...result }
await saveResult('flood', summary)
console.log(JSON.stringify(summary))
process.exit(0)
