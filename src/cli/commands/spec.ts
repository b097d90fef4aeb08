import { stringify as toYaml } from 'yaml'
import { ApiClient, ApiRequestError } from '../../api/client.ts'
import { formatPath } from '../../api/errors.ts'
import type { SpecAgents, StoredSpec } from '../../node-types.ts'
import type { Lineage, LineageEntry, SpecChange } from '../../spec/fork.ts'
import type { SpecStats, Summary } from '../../spec/stats.ts'
import type { CliIO, Command } from '../command.ts'
import { UsageError } from '../errors.ts'
import { formatTable, printJson, printLines, shortPeerId } from '../output.ts'
import { PAGE_OPTIONS, pageParams, printNextPage, withQuery } from '../paging.ts'
import { fromMcpCommand } from './spec-from-mcp.ts'

interface Problem {
  path: string
  message: string
}

/** A spec file that failed to load or validate, carrying every problem found. */
class SpecProblemsError extends Error {
  override name = 'SpecProblemsError'
  readonly file: string
  readonly problems: Problem[]

  constructor (file: string, problems: Problem[]) {
    super(`${file} is not a valid spec (${problems.length} problem${problems.length === 1 ? '' : 's'})`)
    this.file = file
    this.problems = problems
  }
}

/** Load and validate a spec file offline. Throws SpecProblemsError with one problem per mistake. */
async function loadSpec (file: string): Promise<{ spec: unknown, id: string }> {
  const { loadSpecFile, specId } = await import('../../spec/index.ts')
  let spec
  try {
    spec = await loadSpecFile(file)
  } catch (err) {
    const e = err as Error & { problems?: unknown, code?: unknown }
    if (Array.isArray(e.problems)) {
      throw new SpecProblemsError(file, e.problems.map((p: { path?: unknown, message?: unknown }) => ({ path: formatPath(p.path), message: String(p.message) })))
    }
    if (e.name === 'SpecFileError') {
      throw new SpecProblemsError(file, [{ path: '', message: e.message.replace(`cannot read spec file ${file}: `, 'cannot read: ') }])
    }
    throw err
  }
  return { spec, id: specId(spec) }
}

/** `FILE: path: message`, one line per problem, the way compilers report. */
function problemLines (file: string, problems: Problem[]): string[] {
  return problems.map(p => p.path === '' ? `${file}: ${p.message}` : `${file}: ${p.path}: ${p.message}`)
}

function reportProblems (io: CliIO, json: boolean, file: string, problems: Problem[], jsonDoc: unknown): number {
  if (json) printJson(io, jsonDoc)
  else printLines(io, problemLines(file, problems))
  return 1
}

function field (spec: unknown, name: string): string {
  const value = (spec as Record<string, unknown> | null)?.[name]
  return value == null ? '' : String(value)
}

const validateCommand: Command = {
  name: 'validate',
  summary: 'check a spec file offline (no daemon needed)',
  description: [
    'Parse and validate a spec file (YAML or JSON) without contacting any daemon. Prints',
    '"ok <id>" with the spec\'s content id when it is valid; otherwise one line per problem,',
    '"FILE: path: message", and exit code 1.'
  ].join('\n'),
  args: [{ name: 'FILE', description: 'spec file, .yaml/.yml or .json' }],
  examples: [
    'specmesh spec validate extract-entities.yaml',
    'specmesh spec validate extract-entities.yaml --json'
  ],
  run: async ({ args, json, io }) => {
    const file = args[0]!
    try {
      const { id } = await loadSpec(file)
      if (json) printJson(io, { ok: true, file, id })
      else printLines(io, [`ok ${id}`])
      return 0
    } catch (err) {
      if (!(err instanceof SpecProblemsError)) throw err
      return reportProblems(io, json, file, err.problems, { ok: false, file, problems: err.problems })
    }
  }
}

const publishCommand: Command = {
  name: 'publish',
  summary: 'validate a spec file, sign it and gossip it to the mesh',
  description: [
    'Validate a spec file locally (so mistakes show before anything reaches the network), then',
    'hand it to the running daemon, which checks it again (its deadline must be in the future),',
    'signs it with the node\'s key, stores it and gossips it. Publishing the same spec twice is',
    'harmless: it has the same id and is gossiped again.'
  ].join('\n'),
  args: [{ name: 'FILE', description: 'spec file, .yaml/.yml or .json' }],
  examples: [
    'specmesh spec publish extract-entities.yaml',
    'specmesh spec publish extract-entities.yaml --home ./node-a --json'
  ],
  run: async ({ args, home, json, io }) => {
    const file = args[0]!
    let spec: unknown
    try {
      ({ spec } = await loadSpec(file))
    } catch (err) {
      if (!(err instanceof SpecProblemsError)) throw err
      return reportProblems(io, json, file, err.problems, { error: { code: 'invalid_spec', message: err.message, problems: err.problems } })
    }
    let stored: StoredSpec
    try {
      stored = await new ApiClient({ home }).publishSpec(spec)
    } catch (err) {
      if (!(err instanceof ApiRequestError) || err.problems == null) throw err
      return reportProblems(io, json, file, err.problems, { error: { code: err.code, message: err.message, problems: err.problems } })
    }
    if (json) {
      printJson(io, stored)
      return 0
    }
    printLines(io, [
      `published ${stored.id}`,
      `  name     ${field(stored.spec, 'name')} ${field(stored.spec, 'version')}${field(stored.spec, 'variant') !== '' ? ` (${field(stored.spec, 'variant')})` : ''}`,
      `  signer   ${stored.signer}`
    ])
    return 0
  }
}

const listCommand: Command = {
  name: 'list',
  summary: 'list the specs the running node holds',
  description: 'List the specs the running daemon holds, its own and those learned from the mesh, in id order,\n100 at a time (--limit); a "more:" line on stderr gives the command for the next page.',
  options: { ...PAGE_OPTIONS },
  examples: ['specmesh spec list', 'specmesh spec list --limit 20 --json'],
  run: async (ctx) => {
    const { home, json, io } = ctx
    const { body: specs, next } = await new ApiClient({ home }).page<StoredSpec[]>(withQuery('/v1/specs', pageParams(ctx)))
    printNextPage(io, ctx, next)
    if (json) {
      printJson(io, specs)
      return
    }
    if (specs.length === 0) {
      printLines(io, ['no specs yet; publish one with: specmesh spec publish FILE'])
      return
    }
    const rows = specs.map(s => [s.id, field(s.spec, 'name'), field(s.spec, 'version'), field(s.spec, 'variant') || '-', shortPeerId(s.signer)])
    printLines(io, formatTable(['ID', 'NAME', 'VERSION', 'VARIANT', 'SIGNER'], rows))
  }
}

const providersCommand: Command = {
  name: 'providers',
  summary: 'list the peers that serve a spec, found through the DHT',
  description: [
    'Look the spec id up in specmesh\'s DHT, where every agent provides the ids of the specs it',
    'serves, and list the providers with the addresses to dial them at. The running node need not',
    'hold the spec. Providers are what the DHT knows: an agent that stopped serving a spec may be',
    'listed until its record expires (48 h at most).'
  ].join('\n'),
  args: [{ name: 'ID', description: 'spec id, as printed by publish or list' }],
  examples: ['specmesh spec providers bagaaiera…', 'specmesh spec providers bagaaiera… --json'],
  run: async ({ args, home, json, io }) => {
    const { providers } = await new ApiClient({ home }).specProviders(args[0]!)
    if (json) {
      printJson(io, providers)
      return
    }
    if (providers.length === 0) {
      printLines(io, [`no provider of ${args[0]} found in the DHT`])
      return
    }
    printLines(io, formatTable(['PEER', 'ADDRESSES'], providers.map(p => [p.peerId, p.addrs.join(', ') || '(none known)'])))
  }
}

function advertText (advert: SpecAgents['agents'][number]['advert']): string {
  return advert == null ? '(none held)' : `${advert.inFlight}/${advert.limit} running at ${advert.priceUsd} USD`
}

/** `spec agents` as a person reads it: who serves the spec as this node knows, and whether it can know yet. */
function agentsLines (report: SpecAgents): string[] {
  const lines = [
    `spec      ${report.specId}`,
    `topics    ${report.joined ? 'joined: adverts reach this node' : 'not joined: adverts reach this node once it submits a job for the spec (or follows or serves it)'}`
  ]
  if (report.agents.length === 0) lines.push('agents    none known')
  else {
    lines.push(`agents    ${report.agents.length} known`)
    lines.push(...formatTable(['PEER', 'ON TOPIC', 'ADVERT'], report.agents.map(a => [a.peerId, a.onTopic ? 'yes' : 'no', advertText(a.advert)])).map(l => `  ${l}`))
  }
  lines.push(report.pendingPeers.length === 0
    ? 'pending   none: every connected peer has told its subscriptions'
    : `pending   ${report.pendingPeers.length} connected peer${report.pendingPeers.length === 1 ? '' : 's'} whose subscriptions have not arrived yet (${report.pendingPeers.map(shortPeerId).join(', ')})`)
  lines.push(`ready     ${report.ready ? 'yes' : 'no'}`)
  return lines
}

const agentsCommand: Command = {
  name: 'agents',
  summary: 'what the running node knows of a spec\'s agents: whether a job submitted now reaches them',
  description: [
    'The spec\'s agents as the running node knows them: each peer on the spec\'s topics as an',
    'agent is (from its gossipsub subscriptions), with its capacity advert when the node holds one',
    '(adverts reach it once it is on the spec\'s topics: it serves, follows or has submitted a job',
    'for the spec). A peer connected a moment ago may not have told its subscriptions yet; it is',
    'listed as pending. "ready" is yes once no peer is pending and at least one agent is known: a',
    'script that starts agents and submits at once waits for it (--json: .ready). A job submitted',
    'earlier still waits up to 2 s for pending peers and the known agents\' adverts.'
  ].join('\n'),
  args: [{ name: 'SPEC', description: 'spec id (or a unique start of it), name or name@version' }],
  examples: ['specmesh spec agents bagaaiera…', 'specmesh spec agents extract-entities --json'],
  run: async ({ args, home, json, io }) => {
    const report = await new ApiClient({ home }).request('GET', `/v1/specs/${encodeURIComponent(args[0]!)}/agents`) as SpecAgents
    if (json) printJson(io, report)
    else printLines(io, agentsLines(report))
  }
}

const showCommand: Command = {
  name: 'show',
  summary: 'show one spec the running node holds',
  description: 'Show a spec by id: who signed it, when this node learned of it, and the spec itself (as YAML; as the stored record with --json).',
  args: [{ name: 'SPEC', description: 'spec id (or a unique start of it), name or name@version' }],
  examples: ['specmesh spec show bagaaiera…', 'specmesh spec show bagaaiera… --json'],
  run: async ({ args, home, json, io }) => {
    const client = new ApiClient({ home })
    const stored = await client.getSpec(args[0]!)
    if (json) {
      printJson(io, stored)
      return
    }
    const lineage = await client.request('GET', `/v1/specs/${encodeURIComponent(stored.id)}/lineage`).catch(() => null) as Lineage | null
    printLines(io, [
      `id        ${stored.id}`,
      `signer    ${stored.signer}`,
      `received  ${new Date(stored.receivedAt).toISOString()}`,
      ...(lineage != null ? lineageLines(lineage) : []),
      '',
      toYaml(stored.spec).trimEnd()
    ])
  }
}

function describeEntry (e: LineageEntry): string {
  if (!e.held) return `${e.id}  (not held by this node)`
  return `${e.id}  ${e.name ?? ''}${e.version != null ? ` ${e.version}` : ''}${e.variant != null ? ` (${e.variant})` : ''}`
}

/** Parents up the chain (as far as the node holds them), then every known fork below, indented by depth. */
function lineageLines (lineage: Lineage): string[] {
  const lines: string[] = []
  if (lineage.ancestors.length === 0) lines.push('parent    none (an original spec)')
  lineage.ancestors.forEach((a, i) => lines.push(`${i === 0 ? 'parent    ' : '          '}${'↑ '.repeat(i)}${describeEntry(a)}`))
  if (lineage.descendants.length === 0) lines.push('forks     none known')
  lineage.descendants.forEach((d, i) => lines.push(`${i === 0 ? 'forks     ' : '          '}${'  '.repeat((d.depth ?? 1) - 1)}${describeEntry(d)}`))
  return lines
}

function show (value: unknown): string {
  return value === undefined ? '(none)' : typeof value === 'string' ? value : JSON.stringify(value)
}

function changeLines (changes: SpecChange[]): string[] {
  return changes.map((c, i) => `${i === 0 ? '  changed  ' : '           '}${c.path}: ${show(c.from)} → ${show(c.to)}`)
}

const forkCommand: Command = {
  name: 'fork',
  summary: 'publish a variant of a spec with some fields changed (its parent is the old spec)',
  description: [
    'Specs are immutable: a change is a new spec whose parent is the old one. This takes a',
    'spec the running node holds, sets the given fields, sets parent to the old id, validates',
    'the result like any spec (a problem names the field), then signs and gossips it. It prints',
    'the new id and every field that changed.',
    '',
    'FIELD is a dotted path in camelCase or snake_case, as in spec files: variant, deadline,',
    'costUsd, budget.maxUsd, capacity.max_concurrent_requests, successCriteria[0], …',
    'VALUE is read as YAML: 0.2 is a number, true a boolean, [a, b] a list, {k: v} a mapping,',
    '"5m" and ISO times stay text (durations and instants, as in spec files); null removes the',
    'field. Repeat --set for several fields.'
  ].join('\n'),
  args: [{ name: 'SPEC', description: 'the spec to fork: id (or a unique start of it), name or name@version' }],
  options: {
    set: { type: 'string', multiple: true, value: 'FIELD=VALUE', description: 'a field of the fork; repeat for several' }
  },
  examples: [
    'specmesh spec fork bagaaiera… --set variant=fast --set deadline=1m --set costUsd=0.3 --set budget.maxUsd=0.5',
    'specmesh spec fork bagaaiera… --set capacity.maxConcurrentRequests=5 --json'
  ],
  run: async ({ args, home, json, options, io, path }) => {
    const { parseAssignment, parsePath, canonicalPath, formatSegments } = await import('../../spec/fork.ts')
    const raw = (options.set as string[] | undefined) ?? []
    if (raw.length === 0) throw new UsageError('nothing to change; give at least one --set FIELD=VALUE, e.g. --set variant=fast --set deadline=1m', path)
    const set: Record<string, unknown> = {}
    const seen = new Map<string, string>()
    for (const arg of raw) {
      const parsed = parseAssignment(arg)
      if (!parsed.ok) throw new UsageError(parsed.message, path)
      const segments = parsePath(parsed.assignment.path)
      const key = typeof segments === 'string' ? parsed.assignment.path : formatSegments(canonicalPath(segments))
      const earlier = seen.get(key)
      if (earlier != null) throw new UsageError(`--set ${arg} sets ${key} again (already --set ${earlier}); give each field once`, path)
      seen.set(key, arg)
      set[parsed.assignment.path] = parsed.assignment.value
    }
    const id = args[0]!
    let forked: StoredSpec & { changes: SpecChange[] }
    try {
      forked = await new ApiClient({ home }).request('POST', `/v1/specs/${encodeURIComponent(id)}/fork`, { set }) as StoredSpec & { changes: SpecChange[] }
    } catch (err) {
      if (!(err instanceof ApiRequestError) || err.problems == null) throw err
      const where = `fork of ${id}`
      return reportProblems(io, json, where, err.problems, { error: { code: err.code, message: err.message, problems: err.problems } })
    }
    if (json) {
      printJson(io, forked)
      return 0
    }
    printLines(io, [
      `forked ${forked.id}`,
      `  parent   ${field(forked.spec, 'parent') || id}`,
      `  name     ${field(forked.spec, 'name')} ${field(forked.spec, 'version')}${field(forked.spec, 'variant') !== '' ? ` (${field(forked.spec, 'variant')})` : ''}`,
      ...changeLines(forked.changes)
    ])
    return 0
  }
}

function seconds (ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`
}

function dollars (n: number | null): string {
  return n == null ? 'none' : `${Number(n.toFixed(6))} USD`
}

function pct (n: number | null): string {
  return n == null ? '-' : `${Number((n * 100).toFixed(1))}%`
}

function costLine (label: string, s: Summary | null, against: string): string {
  return s == null ? `${label}none` : `${label}mean ${dollars(s.mean)}, p95 ${dollars(s.p95)}, max ${dollars(s.max)}  against ${against}`
}

function statsLines (s: SpecStats): string[] {
  const outcomes = Object.entries(s.outcomes).filter(([, n]) => n > 0).map(([o, n]) => `${o} ${n}`).join(', ')
  const deadline = s.deadline == null
    ? 'no deadline'
    : s.deadline.kind === 'relative'
      ? `a deadline of ${s.deadline.seconds} s${s.durationOfDeadline != null ? ` (p50 ${pct(s.durationOfDeadline.p50)}, p95 ${pct(s.durationOfDeadline.p95)} of it)` : ''}`
      : `the deadline ${s.deadline.at} (${s.deadline.secondsLeft} s left)`
  const lines = [
    `spec ${s.specId}`,
    `  name         ${s.name}${s.variant != null ? ` (${s.variant})` : ''}`,
    `  executions   ${s.executions} receipt${s.executions === 1 ? '' : 's'} over ${s.jobs} job${s.jobs === 1 ? '' : 's'}`
  ]
  if (s.executions === 0) return [...lines, '  no receipts for this spec yet; statistics appear once its jobs run']
  lines.push(
    `  outcomes     ${outcomes}`,
    `  success      ${pct(s.successRate)} of attempts, ${pct(s.jobSuccessRate)} of jobs`,
    s.durationMs == null
      ? '  duration     none (every attempt was refused)'
      : `  duration     p50 ${seconds(s.durationMs.p50)}, p95 ${seconds(s.durationMs.p95)}, max ${seconds(s.durationMs.max)}  against ${deadline}`,
    `  missed       ${s.deadlineMisses} attempt${s.deadlineMisses === 1 ? '' : 's'} timed out or ended after the deadline`,
    costLine('  cost         per attempt ', s.cost.perAttempt, `costUsd ${dollars(s.cost.costUsd)}`),
    costLine('               per job     ', s.cost.perJob, `budget.maxUsd ${dollars(s.cost.budgetMaxUsd)}`)
  )
  const g = s.suggestion
  if (g != null) {
    const sets = Object.entries(g.set).map(([k, v]) => `--set ${k}=${v}`).join(' ')
    lines.push(
      `  suggested    deadline ${g.deadlineSeconds} s, budget.maxUsd ${dollars(g.budgetMaxUsd)}${g.confident ? '' : '  (not confident)'}`,
      `               met by ≥95% of what was observed: p95 duration × ${g.safetyMargin} + ${g.allowanceSeconds} s, rounded up; p95 job cost, rounded up`,
      ...(sets !== '' ? [`  apply        specmesh spec fork ${s.specId} ${sets}`] : ['  apply        the spec already matches the suggestion']),
      ...g.notes.map((n, i) => `${i === 0 ? '  note         ' : '               '}${n}`)
    )
  }
  return lines
}

const statsCommand: Command = {
  name: 'stats',
  summary: 'how a spec performs, from the receipts this node holds, and a better deadline and budget',
  description: [
    'From the receipts the running node holds for a spec: executions (receipts) and jobs,',
    'outcomes, success rate, attempt duration p50/p95 against the deadline, cost per attempt',
    'against costUsd and per job against budget.maxUsd, and a suggested deadline and budget',
    'that the observed data would have met at least 95% of the time (p95 duration × 1.25 + 1 s',
    'rounded up; p95 job cost rounded up to two significant digits). With fewer than 20',
    'executions, or many timeouts, the suggestion is marked not confident. The "apply" line is',
    'a spec fork command that publishes the suggestion as a new spec.'
  ].join('\n'),
  args: [{ name: 'SPEC', description: 'spec id (or a unique start of it), name or name@version' }],
  examples: ['specmesh spec stats bagaaiera…', 'specmesh spec stats bagaaiera… --json'],
  run: async ({ args, home, json, io }) => {
    const stats = await new ApiClient({ home }).request('GET', `/v1/specs/${encodeURIComponent(args[0]!)}/stats`) as SpecStats
    if (json) printJson(io, stats)
    else printLines(io, statsLines(stats))
  }
}

export const specCommand: Command = {
  name: 'spec',
  summary: 'validate, publish and browse specs',
  description: [
    'Specs are signed, content-addressed contracts for one kind of task: input and output',
    'schemas, success criteria, capacity, deadline and budget. A change is a fork: a new spec',
    'whose parent is the old one. `validate` works offline; the other commands talk to the',
    'running daemon.'
  ].join('\n'),
  subcommands: [validateCommand, publishCommand, listCommand, showCommand, providersCommand, agentsCommand, forkCommand, statsCommand, fromMcpCommand],
  examples: [
    'specmesh spec validate extract-entities.yaml',
    'specmesh spec publish extract-entities.yaml',
    'specmesh spec list',
    'specmesh spec show <id> --json',
    'specmesh spec fork <id> --set variant=fast --set deadline=1m --set costUsd=0.3 --set budget.maxUsd=0.5',
    'specmesh spec stats <id>'
  ]
}
