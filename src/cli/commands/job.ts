import { readFile } from 'node:fs/promises'
import { ApiClient, ApiRequestError, DaemonConnectionLostError, DaemonNotRunningError } from '../../api/client.ts'
import type { JobEvent, JobRecord, JobResult } from '../../node-types.ts'
import type { CliIO, Command } from '../command.ts'
import { CliError, UsageError } from '../errors.ts'
import { bidWindowProblem } from '../../market/messages.ts'
import { MAX_BID_WINDOW_MS, MIN_BID_WINDOW_MS } from '../../wire/constants.ts'
import { formatTable, printJson, printLines, shortPeerId } from '../output.ts'
import { PAGE_OPTIONS, pageParams, printNextPage, withQuery } from '../paging.ts'
import { parseExplore } from '../../market/award-policy.ts'
import { isCanonicalPeerId } from '../../crypto/signatures.ts'

/** Deadline assumed when neither the requester nor the spec sets one (the coordinator's default). */
const DEFAULT_JOB_DEADLINE_MS = 60_000
/** Extra time the client waits beyond the job's deadline: retries, verdict, receipt, the answer itself. */
const RESPONSE_MARGIN_MS = 30_000
/** Node's timers hold at most 2^31 − 1 ms; a spec deadline years away must not overflow them. */
const MAX_CLIENT_TIMEOUT_MS = 24 * 60 * 60 * 1000
/** How long `job watch` keeps trying to resume a stream the daemon cut (a restart). */
const WATCH_RECONNECT_MS = 30_000
const WATCH_RETRY_EVERY_MS = 500
/** Exit code after Ctrl+C, as shells report SIGINT. */
const INTERRUPTED_EXIT_CODE = 130

type Attempt = JobRecord['attempts'][number]

/** `-` is stdin; anything else a file. Bad JSON names its source. */
async function readInput (source: string): Promise<unknown> {
  let text: string
  const name = source === '-' ? 'stdin' : source
  if (source === '-') {
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk)
    text = Buffer.concat(chunks).toString('utf8')
  } else {
    try {
      text = await readFile(source, 'utf8')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      throw new CliError(`cannot read input file ${source}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, 'bad_input_file')
    }
  }
  if (text.trim() === '') throw new CliError(`input ${name} is empty; it must hold the job's input as JSON`, 'invalid_input')
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new CliError(`input ${name} is not valid JSON: ${(err as Error).message}`, 'invalid_input')
  }
}

function parseDeadline (value: string, path: string[]): number {
  const ms = new Date(value).getTime()
  if (value.trim() === '' || !Number.isFinite(ms)) throw new UsageError(`--deadline ${value} is not a date; use an ISO 8601 time such as 2026-03-01T18:00:00Z`, path)
  return ms
}

/**
 * The daemon answers POST /v1/jobs when the job ends, at the latest at its
 * deadline: the client waits that long plus a margin. Without --deadline the
 * deadline is the spec's (asked of the daemon), else the coordinator's default.
 */
async function responseTimeout (client: ApiClient, specId: string, deadline: number | undefined): Promise<number> {
  let until = deadline
  if (until == null) {
    try {
      const stored = await client.getSpec(specId)
      const { jobDeadlines } = await import('../../spec/index.ts')
      until = jobDeadlines(stored.spec, Date.now()).deadline
    } catch (err) {
      // An unknown spec is reported by the submission itself, with the node's own words.
      if (!(err instanceof ApiRequestError)) throw err
    }
  }
  const wait = (until ?? Date.now() + DEFAULT_JOB_DEADLINE_MS) - Date.now()
  return Math.min(MAX_CLIENT_TIMEOUT_MS, Math.max(0, wait) + RESPONSE_MARGIN_MS)
}

function usd (n: number): string {
  return `${Number(n.toFixed(6))} USD`
}

function duration (a: Attempt): string {
  return a.startedAt != null && a.endedAt != null ? `${a.endedAt - a.startedAt} ms` : '-'
}

/** The attempts as a small table under a label of `width` characters. */
function attemptLines (attempts: Attempt[], width: number): string[] {
  const label = `  ${'attempts'.padEnd(width)}`
  if (attempts.length === 0) return [`${label}none`]
  const rows = attempts.map(a => [String(a.attempt), shortPeerId(a.agent), a.outcome ?? 'running', usd(a.priceUsd), duration(a), oneLine(a.reason ?? '')])
  return formatTable(['#', 'AGENT', 'OUTCOME', 'PRICE', 'TOOK', 'REASON'], rows).map((line, i) => `${i === 0 ? label : ' '.repeat(label.length)}${line}`)
}

function outputLines (output: unknown): string[] {
  return ['output', ...JSON.stringify(output, null, 2).split('\n').map(l => `  ${l}`)]
}

/** The document `job submit --json` prints: always the same keys, null where there is nothing. */
function resultDocument (result: JobResult): Record<string, unknown> {
  return {
    jobId: result.jobId,
    status: result.status,
    output: result.output === undefined ? null : result.output,
    receipt: result.receipt ?? null,
    costUsd: result.costUsd,
    reason: result.reason ?? null,
    attempts: result.attempts
  }
}

/** What `job submit` prints on Ctrl+C: the job goes on without the command. */
function keepsRunningLines (jobId: string): string[] {
  return [
    `job ${jobId} keeps running on the daemon (Ctrl+C only stopped waiting for it)`,
    `  follow it:  specmesh job watch ${jobId}`,
    `  cancel it:  specmesh job cancel ${jobId}`,
    `  its result: specmesh job wait ${jobId}`
  ]
}

/**
 * The first SIGINT from now on, as a promise (the default, ending the process,
 * is off meanwhile). Installed before the job is submitted, so a Ctrl+C that
 * comes while the daemon answers is not lost.
 */
function sigint (): { interrupted: Promise<null>, release: () => void } {
  let onSigint: (() => void) | undefined
  const interrupted = new Promise<null>(resolve => {
    onSigint = () => { resolve(null) }
    process.once('SIGINT', onSigint)
  })
  return { interrupted, release: () => { process.off('SIGINT', onSigint!) } }
}

/**
 * Resolve with the job's result, or with null on the first SIGINT (the
 * caller tells the user the job runs on). The request is the long one:
 * GET /v1/jobs/:id/result answers once the job has ended.
 */
async function resultOrInterrupt (client: ApiClient, jobId: string, interrupt = sigint()): Promise<JobResult | null> {
  try {
    return await Promise.race([client.request('GET', `/v1/jobs/${encodeURIComponent(jobId)}/result`) as Promise<JobResult>, interrupt.interrupted])
  } finally {
    interrupt.release()
  }
}

function printResult (io: CliIO, specId: string, result: JobResult): void {
  const winner = result.status === 'succeeded' ? result.attempts.at(-1) : undefined
  const n = result.attempts.length
  printLines(io, [
    `job ${result.jobId} ${result.status}${n > 0 ? ` after ${n} attempt${n === 1 ? '' : 's'}` : ''}`,
    `  spec      ${specId}`,
    ...(winner != null ? [`  agent     ${winner.agent}`] : []),
    `  cost      ${usd(result.costUsd)}`,
    ...(result.receipt != null ? [`  receipt   ${result.receipt.id}`] : []),
    ...(result.reason != null ? [`  reason    ${result.reason}`] : []),
    ...attemptLines(result.attempts, 10),
    ...(result.status === 'succeeded' ? outputLines(result.output) : [])
  ])
}

/** --explore, --min-reputation and --prefer as the API's `award` policy; null when none is given. */
function awardPolicyOf (options: Record<string, string | boolean | string[] | undefined>, path: string[]): Record<string, unknown> | null {
  const award: Record<string, unknown> = {}
  if (typeof options.explore === 'string') {
    const explore = parseExplore(options.explore)
    if (explore === undefined) throw new UsageError(`--explore ${options.explore} is not on or off; --explore off awards by reputation mean only`, path)
    award.explore = explore
  }
  const min = options['min-reputation']
  if (typeof min === 'string') {
    const n = Number(min)
    if (min.trim() === '' || !(n >= 0 && n <= 1)) throw new UsageError(`--min-reputation ${min} is not a reputation; use a number from 0 to 1 such as 0.8`, path)
    award.minReputation = n
  }
  const prefer = options.prefer
  if (Array.isArray(prefer) && prefer.length > 0) {
    for (const peer of prefer) {
      if (!isCanonicalPeerId(peer)) throw new UsageError(`--prefer ${peer} is not a peer id; copy one from \`specmesh reputation\` (12D3KooW…)`, path)
    }
    award.preferredAgents = prefer
  }
  return Object.keys(award).length > 0 ? award : null
}

const submitCommand: Command = {
  name: 'submit',
  summary: 'submit a job to the mesh and wait for its result (or not: --no-wait)',
  description: [
    'Submit a job for a spec this node holds: the daemon checks the input against the spec\'s',
    'input schema, calls for bids, awards the best (by reputation and price), sends the input',
    'to the winner, checks the output against the spec and signs the receipt. A failed attempt',
    'goes to the next bid while the spec\'s retries, the deadline and the budget allow.',
    'The command waits for the end (at the latest the job\'s deadline) and prints the result:',
    'with --json {"jobId", "status", "output", "receipt", "costUsd", "reason", "attempts"}.',
    'Exit code 0 when the job succeeded, 1 when it failed or was cancelled (the reason is printed).',
    '',
    'The job runs on the daemon, not in this command: Ctrl+C stops waiting (exit code 130) and',
    'prints the job id with the commands to follow it (job watch), cancel it (job cancel) or wait',
    'for its result (job wait). With --no-wait the command prints the job id at once (with',
    '--json {"jobId"}) and exits 0.'
  ].join('\n'),
  args: [{ name: 'SPEC_ID', description: 'id of the spec to execute (see: specmesh spec list)' }],
  options: {
    input: { type: 'string', value: 'FILE|-', description: 'the job\'s input as JSON: a file, or - for stdin' },
    'max-usd': { type: 'string', value: 'N', description: 'price ceiling per attempt, never above the spec\'s budget.maxUsd (default: that budget, else the spec\'s costUsd)' },
    deadline: { type: 'string', value: 'ISO', description: 'when the job must be done, ISO 8601; only tightens the spec\'s deadline' },
    'bid-window-ms': { type: 'string', value: 'N', description: `how long bids are collected before the award, ${MIN_BID_WINDOW_MS} to ${MAX_BID_WINDOW_MS} (default: 100)` },
    'no-wait': { type: 'boolean', description: 'print the job id once it is recorded and exit; the job runs on' },
    explore: { type: 'string', value: 'on|off', description: 'off: award by reputation mean only, never try a little-known agent on this job (default: on)' },
    'min-reputation': { type: 'string', value: 'R', description: 'consider only agents whose reputation (posterior mean, 0 to 1) is at least R' },
    prefer: { type: 'string', multiple: true, value: 'PEER_ID', description: 'try this agent\'s bid before all others (repeat for several; others remain fallbacks)' }
  },
  examples: [
    'specmesh job submit bagaaiera… --input text.json',
    'specmesh job submit bagaaiera… --input text.json --no-wait',
    'echo \'{"text":"Ada Lovelace met Charles Babbage in London"}\' | specmesh job submit bagaaiera… --input - --json',
    'specmesh job submit bagaaiera… --input text.json --max-usd 0.05 --deadline 2026-03-01T18:00:00Z',
    'specmesh job submit bagaaiera… --input text.json --explore off --min-reputation 0.9'
  ],
  run: async ({ args, home, json, options, io, path }) => {
    const specId = args[0]!
    const source = options.input
    if (typeof source !== 'string') throw new UsageError('missing --input FILE|-: the job\'s input as JSON (- reads stdin)', path)
    const body: Record<string, unknown> = { specId }
    let deadline: number | undefined
    if (typeof options['max-usd'] === 'string') {
      const n = Number(options['max-usd'])
      if (options['max-usd'].trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`--max-usd ${options['max-usd']} is not an amount in USD; use a number ≥ 0 such as 0.05`, path)
      body.maxUsd = n
    }
    if (typeof options.deadline === 'string') {
      deadline = parseDeadline(options.deadline, path)
      body.deadline = new Date(deadline).toISOString()
    }
    if (typeof options['bid-window-ms'] === 'string') {
      const value = options['bid-window-ms']
      const problem = bidWindowProblem(/^\d+$/.test(value) ? Number(value) : NaN, value)
      if (problem != null) throw new UsageError(`--bid-window-ms ${problem}`, path)
      body.bidWindowMs = Number(value)
    }
    const award = awardPolicyOf(options, path)
    if (award != null) body.award = award
    body.input = await readInput(source)

    const probe = new ApiClient({ home })
    const timeoutMs = await responseTimeout(probe, specId, deadline)
    body.wait = false
    const interrupt = options['no-wait'] === true ? undefined : sigint()
    let jobId: string
    try {
      jobId = (await probe.request('POST', '/v1/jobs', body) as { jobId: string }).jobId
    } catch (err) {
      interrupt?.release()
      throw err
    }
    if (interrupt == null) {
      if (json) printJson(io, { jobId })
      else printLines(io, [`job ${jobId} submitted; it runs on the daemon`, `  follow it:  specmesh job watch ${jobId}`, `  cancel it:  specmesh job cancel ${jobId}`, `  its result: specmesh job wait ${jobId}`])
      return 0
    }
    const result = await resultOrInterrupt(new ApiClient({ home, timeoutMs }), jobId, interrupt)
    if (result == null) {
      io.stderr(`\n${keepsRunningLines(jobId).join('\n')}\n`)
      return INTERRUPTED_EXIT_CODE
    }
    if (json) printJson(io, resultDocument(result))
    else printResult(io, specId, result)
    return result.status === 'succeeded' ? 0 : 1
  }
}

/** Time to allow for a job's outcome: its deadline, plus the margin, bounded. */
function timeoutUntil (deadline: number): number {
  return Math.min(MAX_CLIENT_TIMEOUT_MS, Math.max(0, deadline - Date.now()) + RESPONSE_MARGIN_MS)
}

async function jobRecord (client: ApiClient, jobId: string): Promise<JobRecord & { output?: unknown }> {
  try {
    return await client.request('GET', `/v1/jobs/${encodeURIComponent(jobId)}`) as JobRecord & { output?: unknown }
  } catch (err) {
    if (err instanceof ApiRequestError && err.status === 404) {
      throw new ApiRequestError(404, 'not_found', `this node has no record of job ${jobId}; \`specmesh job list\` shows the jobs it submitted`)
    }
    throw err
  }
}

const waitCommand: Command = {
  name: 'wait',
  summary: 'wait for a job this node submitted to end, and print its result',
  description: [
    'Wait until the job has ended (at once when it already has) and print its result, as',
    '`job submit` does (with --json the same document). Ctrl+C stops waiting; the job runs on.',
    'Exit code 0 when the job succeeded, 1 when it failed or was cancelled.'
  ].join('\n'),
  args: [{ name: 'JOB_ID', description: 'job id, as printed by job submit or job list' }],
  examples: ['specmesh job wait bagaaiera…', 'specmesh job wait bagaaiera… --json'],
  run: async ({ args, home, json, io }) => {
    const jobId = args[0]!
    const record = await jobRecord(new ApiClient({ home }), jobId)
    const result = await resultOrInterrupt(new ApiClient({ home, timeoutMs: timeoutUntil(record.deadline) }), jobId)
    if (result == null) {
      io.stderr(`\n${keepsRunningLines(jobId).join('\n')}\n`)
      return INTERRUPTED_EXIT_CODE
    }
    if (json) printJson(io, resultDocument(result))
    else printResult(io, record.specId, result)
    return result.status === 'succeeded' ? 0 : 1
  }
}

const cancelCommand: Command = {
  name: 'cancel',
  summary: 'cancel a job this node submitted, and its running attempt',
  description: [
    'Cancel a job: no further bid, award or retry, and a running attempt is stopped (the',
    'agent aborts its handler; the attempt\'s receipt says cancelled and charges nothing).',
    'Prints the job as it ended (with --json its record). A job that had already ended is',
    'left as it was, and the command says so. Exit code 0 in both cases.'
  ].join('\n'),
  args: [{ name: 'JOB_ID', description: 'job id, as printed by job submit or job list' }],
  examples: ['specmesh job cancel bagaaiera…', 'specmesh job cancel bagaaiera… --json'],
  run: async ({ args, home, json, io }) => {
    const jobId = args[0]!
    const client = new ApiClient({ home })
    const before = await jobRecord(client, jobId)
    const record = await client.request('POST', `/v1/jobs/${encodeURIComponent(jobId)}/cancel`) as JobRecord
    if (json) {
      printJson(io, record)
      return
    }
    const ended = before.status !== 'bidding' && before.status !== 'running'
    printLines(io, ended
      ? [`job ${jobId} had already ended (${record.status}); nothing to cancel`]
      : [`job ${jobId} ${record.status}`, `  cost      ${usd(record.costUsd)}`, ...(record.reason != null ? [`  reason    ${record.reason}`] : []), ...attemptLines(record.attempts, 10)])
  }
}

/** One line per event, for a person. */
function eventLine (event: JobEvent): string {
  const d = event.data
  const time = new Date(event.at).toISOString().slice(11, 23)
  const agent = typeof d.agent === 'string' ? shortPeerId(d.agent) : ''
  const text = ((): string => {
    switch (event.type) {
      case 'submitted': return `submitted for ${String(d.specName)} (ceiling ${usd(Number(d.maxUsd))}, deadline ${new Date(Number(d.deadline)).toISOString()})`
      case 'waiting-capacity': return `waiting for capacity: every one of ${String(d.agents)} agent(s) serving the spec is at its limit`
      case 'bid': return `bid from ${agent}: ${usd(Number(d.priceUsd))}, estimate ${String(d.estimatedMs)} ms`
      case 'award': return `attempt ${String(d.attempt)} awarded to ${agent} at ${usd(Number(d.priceUsd))}`
      case 'attempt-started': return `attempt ${String(d.attempt)} started at ${agent}`
      case 'attempt-ended': return `attempt ${String(d.attempt)} ended: ${String(d.outcome)} after ${String(d.durationMs)} ms${typeof d.reason === 'string' ? ` (${oneLine(d.reason)})` : ''}`
      case 'backoff': return `backing off ${String(d.delayMs)} ms before retry ${String(d.retry)}`
      case 'receipt': return `receipt ${String(d.receiptId)} for attempt ${String(d.attempt)}: ${String(d.outcome)}, charged ${usd(Number(d.costUsd))}`
      case 'done': return `done: ${String(d.status)}, cost ${usd(Number(d.costUsd))}${typeof d.reason === 'string' ? ` (${d.reason})` : ''}`
    }
    return event.type
  })()
  return `${time}  #${event.seq}  ${text}`
}

const watchCommand: Command = {
  name: 'watch',
  summary: 'follow a job\'s events as they happen, until it ends',
  description: [
    'Print the job\'s events, from the first (or after --after SEQ) to its end: submitted,',
    'waiting-capacity, bid, award, attempt-started, attempt-ended, backoff, receipt, done.',
    'With --json one JSON object per line {seq, jobId, type, at, data}. When the daemon',
    `restarts meanwhile the command resumes where it stopped (for up to ${WATCH_RECONNECT_MS / 1000} s).`,
    'Ctrl+C stops watching; the job runs on. Exit code 0 when the job succeeded, 1 otherwise.'
  ].join('\n'),
  args: [{ name: 'JOB_ID', description: 'job id, as printed by job submit or job list' }],
  options: {
    after: { type: 'string', value: 'SEQ', description: 'start after this event seq (default: 0, every event)' }
  },
  examples: ['specmesh job watch bagaaiera…', 'specmesh job watch bagaaiera… --json --after 3'],
  run: async ({ args, home, json, options, io, path }) => {
    const jobId = args[0]!
    let last = 0
    if (typeof options.after === 'string') {
      if (!/^\d+$/.test(options.after)) throw new UsageError(`--after ${options.after} is not an event seq (a whole number ≥ 0)`, path)
      last = Number(options.after)
    }
    await jobRecord(new ApiClient({ home }), jobId)
    const stop = new AbortController()
    const onSigint = (): void => { stop.abort() }
    process.once('SIGINT', onSigint)
    let status: string | undefined
    let lostAt: number | undefined
    try {
      while (status == null && !stop.signal.aborted) {
        try {
          // A fresh client each time: after a restart the daemon has a new port.
          for await (const sse of new ApiClient({ home }).events(`/v1/jobs/${encodeURIComponent(jobId)}/events`, { lastEventId: String(last), signal: stop.signal })) {
            lostAt = undefined
            if (sse.event === 'error') throw new CliError(`the daemon could not stream the job's events: ${sse.data}`, 'failed')
            const event = JSON.parse(sse.data as string) as JobEvent
            last = event.seq
            if (json) io.stdout(`${JSON.stringify(event)}\n`)
            else io.stdout(`${eventLine(event)}\n`)
            if (event.type === 'done') status = String(event.data.status)
          }
          if (status == null && !stop.signal.aborted) {
            // The stream ended without 'done': the job's log is closed (a job from before events were kept).
            const record = await jobRecord(new ApiClient({ home }), jobId)
            status = record.status
          }
        } catch (err) {
          if (!(err instanceof DaemonConnectionLostError || err instanceof DaemonNotRunningError)) throw err
          lostAt ??= Date.now()
          if (Date.now() - lostAt > WATCH_RECONNECT_MS) throw err
          await new Promise(resolve => setTimeout(resolve, WATCH_RETRY_EVERY_MS))
        }
      }
    } finally {
      process.off('SIGINT', onSigint)
    }
    if (status == null) {
      io.stderr(`stopped watching; job ${jobId} runs on (resume with: specmesh job watch ${jobId} --after ${last})\n`)
      return INTERRUPTED_EXIT_CODE
    }
    return status === 'succeeded' ? 0 : 1
  }
}

const statusCommand: Command = {
  name: 'status',
  summary: 'show what this node knows of a job it submitted',
  description: 'Show a job this node submitted: its status, cost, every attempt, and the output once it succeeded.\nExit code 0 whenever the job is known, whatever its status.',
  args: [{ name: 'JOB_ID', description: 'job id, as printed by job submit or job list' }],
  examples: ['specmesh job status bagaaiera…', 'specmesh job status bagaaiera… --json'],
  run: async ({ args, home, json, io }) => {
    const job = await jobRecord(new ApiClient({ home }), args[0]!)
    if (json) {
      printJson(io, job)
      return
    }
    printLines(io, [
      `job ${job.jobId}`,
      `  status     ${job.status}`,
      `  spec       ${job.specName} (${job.specId})`,
      `  submitted  ${new Date(job.submittedAt).toISOString()}`,
      ...(job.finishedAt != null ? [`  finished   ${new Date(job.finishedAt).toISOString()}`] : []),
      `  deadline   ${new Date(job.deadline).toISOString()}`,
      `  ceiling    ${usd(job.maxUsd)} per attempt`,
      `  cost       ${usd(job.costUsd)}`,
      ...(job.receiptId != null ? [`  receipt    ${job.receiptId}`] : []),
      ...(job.reason != null ? [`  reason     ${job.reason}`] : []),
      ...attemptLines(job.attempts, 11),
      ...('output' in job ? outputLines(job.output) : [])
    ])
  }
}

const listCommand: Command = {
  name: 'list',
  summary: 'list the jobs this node submitted',
  description: 'List the jobs this node submitted (as coordinator), with status, cost, attempts and, for failures, the reason.\nThe newest 100 (--limit), oldest first; a "more:" line on stderr gives the command for the older ones.',
  options: {
    status: { type: 'string', value: 'STATUS', description: 'only jobs in this state (bidding, running, succeeded, failed, cancelled; comma-separated for several)' },
    spec: { type: 'string', value: 'SPEC', description: 'only jobs of this spec (id, id prefix, name or name@version)' },
    agent: { type: 'string', value: 'PEER', description: 'only jobs with an attempt at this agent (peer id, or its start or end)' },
    ...PAGE_OPTIONS
  },
  examples: ['specmesh job list', 'specmesh job list --status failed --spec extract-entities', 'specmesh job list --limit 20 --json'],
  run: async (ctx) => {
    const { home, json, io, options } = ctx
    const query = new URLSearchParams()
    for (const name of ['status', 'spec', 'agent'] as const) if (typeof options[name] === 'string') query.set(name, options[name])
    const { body: jobs, next } = await new ApiClient({ home }).page<JobRecord[]>(withQuery('/v1/jobs', pageParams(ctx, query)))
    printNextPage(io, ctx, next)
    if (json) {
      printJson(io, jobs)
      return
    }
    if (jobs.length === 0) {
      printLines(io, ['no jobs yet; submit one with: specmesh job submit SPEC_ID --input FILE'])
      return
    }
    const rows = [...jobs]
      .sort((a, b) => a.submittedAt - b.submittedAt)
      .map(j => [j.jobId, j.specName, j.status, usd(j.costUsd), String(j.attempts.length), oneLine(j.reason ?? '')])
    printLines(io, formatTable(['JOB', 'SPEC', 'STATUS', 'COST', 'ATTEMPTS', 'REASON'], rows))
  }
}

/** Reasons can be long and multi-line; a table row gets the first 100 characters of one line. */
function oneLine (text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > 100 ? `${flat.slice(0, 99)}…` : flat
}

export const jobCommand: Command = {
  name: 'job',
  summary: 'submit jobs and follow them',
  description: [
    'A job is one request to execute a spec on one input. The node that submits it coordinates',
    'it: it runs the auction, sends the input to the awarded agent, checks the output against',
    'the spec, and signs the receipt. These commands talk to the running daemon.'
  ].join('\n'),
  subcommands: [submitCommand, watchCommand, waitCommand, cancelCommand, statusCommand, listCommand],
  examples: [
    'specmesh job submit <spec id> --input text.json --json',
    'specmesh job submit <spec id> --input text.json --no-wait',
    'specmesh job watch <job id>',
    'specmesh job cancel <job id>',
    'specmesh job list',
    'specmesh job status <job id>'
  ]
}
