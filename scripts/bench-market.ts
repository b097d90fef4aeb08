/**
 * npm run bench:market — today's award rule and the new one side by side on
 * the same simulated market (scripts/lib/market-sim.ts: the real scoring and
 * reputation code, no network): incumbents with a record, mediocre agents, a
 * better and cheaper agent joining late, whitewashers that take a fresh key
 * after k failures. Seeded, so a run is reproducible.
 *
 * Prints a table per rule, then the same market with variations (the newcomer
 * prior replaced by a flat Beta(1, 1), and whitewashers that re-key after every
 * failure) to show what each part buys; saves JSON under bench-results/; the
 * last line is one JSON object with, per rule: regret,
 * jobsToFirstAwardForLateBest, lateBestShareAfter1000, whitewasherShare,
 * failedJobShare (and the targets, checked).
 *
 * BENCH_JOBS (default 10000), BENCH_SEED (1).
 */
import { rankForAward } from '../src/market/scoring.ts'
import { defaultPopulation, meanRule, simulate, thompsonRule, type RuleMetrics, type SimConfig, type SimRule } from './lib/market-sim.ts'
import { saveResult, table } from './lib/bench.ts'

const JOBS = Number(process.env.BENCH_JOBS ?? 10_000)
const SEED = Number(process.env.BENCH_SEED ?? 1)
if (!(JOBS >= 10_000)) console.error(`note: BENCH_JOBS=${JOBS}; the issue's figures are for at least 10,000 jobs`)

const config = defaultPopulation(JOBS, SEED)
const awardSeed = `bench-market-${SEED}`
const started = performance.now()
const today = simulate(config, meanRule)
const thompson = simulate(config, thompsonRule(awardSeed))

/** Ablation: the same Thompson rule, every agent on a flat Beta(1, 1) prior (a new key at 0.5). */
const flatPrior: SimRule = {
  name: 'thompson, flat prior',
  choose: (bids, { jobId, ceilingUsd, reputation, spec }) => rankForAward(bids, {
    jobId, ceilingUsd, seed: awardSeed,
    posteriorOf: agent => { const r = reputation.score(agent, spec); return r == null ? undefined : { alpha: r.alpha, beta: r.beta } }
  }).ranked[0]!.agent
}
const rekeyEveryFailure: SimConfig = { ...config, agents: config.agents.map(a => a.kind === 'whitewasher' ? { ...a, rekeyAfterFailures: 1 } : a) }
const variations: Array<{ market: string, metrics: RuleMetrics }> = [
  { market: 'default', metrics: simulate(config, flatPrior) },
  { market: 'whitewashers re-key after 1 failure', metrics: simulate(rekeyEveryFailure, meanRule) },
  { market: 'whitewashers re-key after 1 failure', metrics: { ...simulate(rekeyEveryFailure, thompsonRule(awardSeed)) } }
]
const elapsedMs = Math.round(performance.now() - started)

const row = (market: string, m: RuleMetrics): Record<string, string | number> => ({
  market,
  rule: m.rule,
  regret: m.regret,
  'late best: first job after': m.jobsToFirstAwardForLateBest ?? 'never',
  'late best share (first 1000)': m.lateBestShareFirst1000,
  'late best share (after 1000)': m.lateBestShareAfter1000,
  'whitewashers share': m.whitewasherShare,
  'whitewasher keys': m.whitewasherKeys,
  'failed jobs': m.failedJobShare,
  'mean price': m.meanPriceUsd
})

const targets = {
  jobsToFirstAwardForLateBest: thompson.jobsToFirstAwardForLateBest != null && thompson.jobsToFirstAwardForLateBest <= 50,
  lateBestShareAfter1000: thompson.lateBestShareAfter1000 > 0.5,
  whitewasherShare: thompson.whitewasherShare <= 0.05,
  failedJobShare: thompson.failedJobShare <= today.failedJobShare + 0.01
}

console.log(`award rules on a simulated market: ${JOBS} jobs, seed ${SEED}, ${config.agents.length} agents (late best arrives at job ${config.agents.find(a => a.kind === 'late-best')?.joinsAt}); ${elapsedMs} ms`)
console.log(table(config.agents.map(a => ({ agent: a.name, 'success rate': a.successRate, price: a.priceUsd, joins: a.joinsAt ?? 0, 'history receipts': a.history ?? 0, 're-keys after failures': a.rekeyAfterFailures ?? '-' }))))
console.log()
console.log(table([row('default', today), row('default', thompson), ...variations.map(v => row(v.market, v.metrics))]))
console.log()
console.log(`targets for the new rule: ${Object.entries(targets).map(([k, ok]) => `${k} ${ok ? 'met' : 'MISSED'}`).join(', ')}`)

const pick = (m: RuleMetrics) => ({
  regret: m.regret,
  jobsToFirstAwardForLateBest: m.jobsToFirstAwardForLateBest,
  lateBestShareAfter1000: m.lateBestShareAfter1000,
  whitewasherShare: m.whitewasherShare,
  failedJobShare: m.failedJobShare
})
const summary = { jobs: JOBS, seed: SEED, today: pick(today), thompson: pick(thompson), targetsMet: targets }
await saveResult('market', { config, today, thompson, variations, targets, elapsedMs })
console.log(JSON.stringify(summary))
