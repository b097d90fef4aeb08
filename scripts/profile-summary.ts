/**
 * node scripts/profile-summary.ts DIR [--top N]: what the operating surfaces
 * (metrics and logging) cost in CPU profiles (.cpuprofile, V8's format, as
 * `--cpu-prof` or bench:jobs' BENCH_OPERATE_PROF write them).
 *
 * Each sample is charged to the innermost frame of the stack that is neither
 * V8-native nor Node's own library (node:…): JSON.stringify or a stream write
 * is charged to whoever called it. That frame's file gives its category:
 * logging (src/util/logger.ts, src/util/log-writer.ts), metrics (prom-client,
 * @libp2p/prometheus-metrics, src/metrics/), else other. A sample with no such
 * frame is Node's own (`node`), but for performance observers' dispatch
 * (metrics: prom-client's GC observer is the only one); idle and program
 * samples are not busy time.
 * The byte counters' wrappers of each stream's dispatchEvent and send are
 * charged their own samples only: Node's event dispatch under them would run
 * without them, and would otherwise be charged to them.
 *
 * Profiles are grouped by the `-on-` / `-off-` in their file names (bench:jobs
 * names them turnNN-on-nodeK.cpuprofile); per group it prints busy ms, each
 * category's share of it, and the N functions of the on group's operating
 * categories that cost most. `--all` lists the functions of every category
 * instead (the whole profile by charged function: where a hot path's time goes).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

const CATEGORIES: Array<[string, RegExp]> = [
  ['logging', /\/src\/util\/(logger|log-writer)\.ts/],
  ['metrics', /\/node_modules\/(prom-client|@libp2p\/prometheus-metrics)\/|\/src\/metrics\//]
]

/** The byte counters' wrappers of a stream's dispatchEvent and send (src/metrics/libp2p-metrics.ts). */
const PASS_THROUGH = /^stream\.(dispatchEvent|send) .*\/src\/metrics\/libp2p-metrics\.ts$/

const IDLE = new Set(['(idle)', '(program)'])

/** Milliseconds per category and per charged function (category + name + place). */
export function summarizeProfile (profile: Profile, all = false): { busyMs: number, byCategory: Record<string, number>, byFunction: Map<string, number> } {
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  // The charged frame of each node, memoised: itself if it is user-land code, else its parent's.
  const charged = new Map<number, ProfileNode | null>()
  const chargedOf = (id: number): ProfileNode | null => {
    const known = charged.get(id)
    if (known !== undefined) return known
    const n = byId.get(id)!
    const url = n.callFrame.url
    const own = url !== '' && !url.startsWith('node:')
    const up = parent.get(id)
    const result = own ? n : up != null ? chargedOf(up) : null
    charged.set(id, result)
    return result
  }
  const byCategory: Record<string, number> = { logging: 0, metrics: 0, other: 0, node: 0 }
  const byFunction = new Map<string, number>()
  let busyMs = 0
  for (const [i, sample] of profile.samples.entries()) {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000
    const leaf = byId.get(sample)!
    if (IDLE.has(leaf.callFrame.functionName)) continue
    busyMs += ms
    let frame = chargedOf(sample)
    // A pass-through wrapper pays only its own samples; what it calls (libp2p dispatching the event, sending) runs without it too.
    while (frame != null && frame.id !== sample && PASS_THROUGH.test(`${frame.callFrame.functionName} ${frame.callFrame.url}`)) {
      const up = parent.get(frame.id)
      frame = up != null ? chargedOf(up) : null
    }
    if (frame == null) {
      // Node's own work with no caller of ours: named by the outermost node: frame under the root (the event it serves).
      let top = sample
      let name = ''
      for (let at: number | undefined = sample; at != null; at = parent.get(at)) {
        const f = byId.get(at)!.callFrame
        if (f.url.startsWith('node:')) { top = at; name = `${f.functionName || '(anonymous)'} ${f.url}:${f.lineNumber + 1}` }
      }
      // Performance observers' dispatch: prom-client's GC observer is the only one a node has (none with metrics off).
      const category = name.startsWith('observerCallback node:internal/perf/') ? 'metrics' : 'node'
      byCategory[category]! += ms
      const key = `${category} ${name || leaf.callFrame.functionName}${top === sample ? '' : ` (leaf ${leaf.callFrame.functionName})`}`
      byFunction.set(key, (byFunction.get(key) ?? 0) + ms)
      continue
    }
    const category = CATEGORIES.find(([, re]) => re.test(frame.callFrame.url))?.[0] ?? 'other'
    byCategory[category]! += ms
    if (all || category !== 'other') {
      const key = `${category} ${frame.callFrame.functionName || '(anonymous)'} ${frame.callFrame.url.replace(/^.*\/(node_modules|src)\//, '$1/')}:${frame.callFrame.lineNumber + 1}`
      byFunction.set(key, (byFunction.get(key) ?? 0) + ms)
    }
  }
  return { busyMs, byCategory, byFunction }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2]
  if (dir == null) {
    console.error('usage: node scripts/profile-summary.ts DIR [--top N] [--all]   (DIR holds .cpuprofile files)')
    process.exit(2)
  }
  const topAt = process.argv.indexOf('--top')
  const top = topAt > 0 ? Number(process.argv[topAt + 1]) : 12
  const all = process.argv.includes('--all')
  const groups = new Map<string, { files: number, busyMs: number, byCategory: Record<string, number>, byFunction: Map<string, number> }>()
  for (const file of readdirSync(dir).filter(f => f.endsWith('.cpuprofile')).sort()) {
    const group = /-on-/.test(file) ? 'on' : /-off-/.test(file) ? 'off' : 'all'
    const s = summarizeProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile, all)
    const g = groups.get(group) ?? { files: 0, busyMs: 0, byCategory: {} as Record<string, number>, byFunction: new Map<string, number>() }
    g.files++
    g.busyMs += s.busyMs
    for (const [k, v] of Object.entries(s.byCategory)) g.byCategory[k] = (g.byCategory[k] ?? 0) + v
    for (const [k, v] of s.byFunction) g.byFunction.set(k, (g.byFunction.get(k) ?? 0) + v)
    groups.set(group, g)
    console.log(`${basename(file)}: busy ${s.busyMs.toFixed(0)} ms; ${Object.entries(s.byCategory).map(([k, v]) => `${k} ${(100 * v / s.busyMs).toFixed(2)}%`).join(', ')}`)
  }
  for (const [group, g] of groups) {
    console.log(`\n${group}: ${g.files} profiles, busy ${g.busyMs.toFixed(0)} ms; ${Object.entries(g.byCategory).map(([k, v]) => `${k} ${v.toFixed(0)} ms (${(100 * v / g.busyMs).toFixed(2)}%)`).join(', ')}`)
    for (const [k, v] of [...g.byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${v.toFixed(1).padStart(8)} ms  ${(100 * v / g.busyMs).toFixed(2).padStart(5)}%  ${k}`)
  }
}
