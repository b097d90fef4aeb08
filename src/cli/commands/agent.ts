import { stat } from 'node:fs/promises'
import type { HandlerContainment } from '../../market/handler-containment.ts'
import type { Daemon } from '../../daemon.ts'
import type { Handler, StoredSpec } from '../../node-types.ts'
import type { McpTool } from '../../mcp/tool-handler.ts'
import type { CliIO, Command } from '../command.ts'
import { CliError, UsageError } from '../errors.ts'
import { printJson, printLines } from '../output.ts'
import { NODE_OPTIONS, nodeRunSettings } from '../node-flags.ts'

/** How long `--spec ID` waits for the spec to sync from the mesh. @default 60 s */
const DEFAULT_SPEC_WAIT_S = 60
/** How long the first Ctrl+C lets running jobs finish before the agent stops anyway. */
const DEFAULT_DRAIN_TIMEOUT_S = 30
/** How often the wait checks the store, and how often it says it is still waiting. */
const SPEC_POLL_MS = 200
const SPEC_PROGRESS_MS = 5_000

/** One spec to serve, as given on the command line. */
interface ServeRequest {
  /** The --spec value: a file or an id. */
  given: string
  /** The --exec program, or the --mcp server command. */
  command: string
  /** With --mcp: the tool of that server that executes the jobs. */
  tool?: string
  priceUsd?: number
  estimatedMs?: number
  concurrency?: number
}

interface Serving {
  specId: string
  name: string
  version: string
  priceUsd: number
  estimatedMs?: number
  concurrency: number
  command: string
  tool?: string
  /** 'file' when this node published it, 'mesh' when it synced from a peer. */
  source: 'file' | 'mesh'
}

export class SpecNotSyncedError extends CliError {
  override name = 'SpecNotSyncedError'
  constructor (id: string, waitedS: number, peers: number) {
    super(
      `spec ${id} has not reached this node after ${waitedS} s (${peers} peer${peers === 1 ? '' : 's'} connected); ` +
      'no peer sent it by sync and no provider of it was found in the DHT; ' +
      'check --bootstrap points at a running node that holds the spec (its `specmesh spec list` shows it), ' +
      'or give the spec file instead of its id',
      'spec_not_synced'
    )
  }
}

export const agentCommand: Command = {
  name: 'agent',
  summary: 'run a node that executes jobs for a spec with a program in any language',
  description: [
    'Run a node (exactly as `specmesh daemon` does: same data folder, lock, api.json and',
    'flags; the identity is created when DIR is new) that serves a spec: it bids on the',
    'spec\'s jobs and, for each job it is awarded, runs COMMAND through /bin/sh with the job\'s',
    'input as JSON on stdin. The one JSON value COMMAND prints on stdout is the output.',
    'A non-zero exit, anything but JSON on stdout, or output over the size limit is a failed',
    'attempt, never a crash of the node; COMMAND is killed at the job\'s deadline.',
    '',
    '--spec takes a spec file (validated, then published from this node) or a spec id (the',
    'agent waits, up to --spec-wait seconds, for it to sync from its peers, and meanwhile looks',
    'it up in the DHT and fetches it from a provider). Each spec served is provided in the DHT.',
    'Give --spec and --exec several times to serve several specs: the n-th --exec serves the',
    'n-th --spec; --price, --estimate-ms and --concurrency apply to all, or are given once per',
    'spec. What it serves goes to stdout once it is serving; logs go to stderr.',
    '',
    'Stopping: the first Ctrl+C (SIGINT) or SIGTERM stops bidding, refuses new awards as',
    '"stopping" (coordinators then go to another agent, and it costs this agent no reputation)',
    'and lets the jobs already running finish, for up to --drain-timeout seconds; a second',
    'Ctrl+C aborts them at once. Then the node stops.',
    '',
    'Instead of --exec, --mcp COMMAND --tool NAME serves the spec with a tool of an MCP server:',
    'COMMAND is started once (through /bin/sh, speaking MCP on stdio) and each job calls the',
    'tool with the job\'s input as its arguments; its structuredContent (or its text, as JSON) is',
    'the output, and a tool error is a failed attempt. The call times out at the job\'s deadline',
    'and is cancelled when the job is aborted. `specmesh spec from-mcp` writes a spec from the',
    'tool\'s schemas.'
  ].join('\n'),
  options: {
    spec: { type: 'string', multiple: true, value: 'SPEC_ID_OR_FILE', description: 'spec to serve: a spec file (.yaml/.yml/.json) or a spec id' },
    exec: { type: 'string', multiple: true, value: 'COMMAND', description: 'program that executes one job: input JSON on stdin, output JSON on stdout' },
    mcp: { type: 'string', multiple: true, value: 'COMMAND', description: 'instead of --exec: an MCP server (stdio) whose --tool executes the jobs' },
    tool: { type: 'string', multiple: true, value: 'NAME', description: 'with --mcp: the tool to call, once for all --mcp or once per --mcp' },
    price: { type: 'string', multiple: true, value: 'USD', description: 'price asked per job (default: the spec\'s costUsd, or 0)' },
    'estimate-ms': { type: 'string', multiple: true, value: 'N', description: 'expected duration of one job; the agent only bids when it can finish by the deadline (default: 1000)' },
    concurrency: { type: 'string', multiple: true, value: 'N', description: 'jobs executed at once, never above the spec\'s capacity.maxConcurrentRequests (default: that limit, or 4)' },
    'spec-wait': { type: 'string', value: 'SECONDS', description: `how long to wait for a spec given by id to arrive from the mesh (default: ${DEFAULT_SPEC_WAIT_S})` },
    'drain-timeout': { type: 'string', value: 'SECONDS', description: `on Ctrl+C, how long running jobs may take to finish before they are aborted (default: ${DEFAULT_DRAIN_TIMEOUT_S})` },
    ...NODE_OPTIONS
  },
  examples: [
    'specmesh agent --home ./agent-a --spec extract-entities.yaml --exec "python3 extract.py" --price 0.02',
    'specmesh agent --home ./agent-b --spec bagaaiera… --exec "./summarize.sh" --bootstrap /ip4/192.0.2.7/tcp/4747/p2p/12D3KooW…',
    'specmesh agent --spec a.yaml --exec "python3 a.py" --spec b.yaml --exec "node b.js" --price 0.01 --price 0.03',
    'specmesh agent --spec shout.yaml --mcp "node examples/mcp/text-tools.ts" --tool shout'
  ],
  run: async ({ home, json, options, io, path }) => {
    const requests = serveRequests(options, path)
    const specWaitS = positiveNumber(options['spec-wait'], '--spec-wait', path) ?? DEFAULT_SPEC_WAIT_S
    const drainTimeoutS = positiveNumber(options['drain-timeout'], '--drain-timeout', path) ?? DEFAULT_DRAIN_TIMEOUT_S
    const settings = await nodeRunSettings(options, io.env, path)

    // Spec files are checked before the node starts, so a typo costs nothing.
    const files = new Map<string, unknown>()
    for (const request of requests) {
      if (await isSpecFile(request.given)) files.set(request.given, await loadSpec(request.given))
    }

    // MCP servers are started, and their tools found, before the node starts too.
    const tools = await connectMcpTools(requests)
    const { runDaemon } = await import('../../daemon.ts')
    await runDaemon({
      home,
      ...settings,
      // With --json the one document printed is the agent's, written once it serves.
      ...(json ? { stdout: () => {} } : {}),
      onReady: async (daemon, signal) => {
        // Before any job: kill what a killed earlier run of this agent left running.
        const { HandlerContainment } = await import('../../market/handler-containment.ts')
        const containment = new HandlerContainment({ home: daemon.home, log: daemon.log })
        containment.start()
        const serving: Serving[] = []
        for (const request of requests) {
          const file = files.get(request.given)
          const stored = file !== undefined
            ? await daemon.node.publishSpec(file)
            : await waitForSpec(daemon, request.given, specWaitS, signal)
          if (stored == null) return // shutting down
          serving.push(await serve(daemon, stored, request, file !== undefined ? 'file' : 'mesh', containment, tools.get(request)?.handler))
        }
        report(io, json, daemon, serving)
      },
      onShutdown: async (daemon, force) => {
        const running = daemon.node.servedSpecs().reduce((n, s) => n + s.inFlight, 0)
        daemon.log('agent.stopping', {
          running,
          drainTimeoutS,
          message: running > 0
            ? `stopping: no new work; letting ${running} running job${running === 1 ? '' : 's'} finish (up to ${drainTimeoutS} s; Ctrl+C again aborts ${running === 1 ? 'it' : 'them'})`
            : 'stopping: no job is running'
        })
        const left = await daemon.node.drain(drainTimeoutS * 1000, force)
        if (left > 0) daemon.log('agent.drain_incomplete', { level: 'warn', running: left, message: `${left} job${left === 1 ? '' : 's'} still running ${force.aborted ? 'at the second Ctrl+C' : `after ${drainTimeoutS} s`}: aborting` })
        else daemon.log('agent.drained', { message: 'every running job has finished' })
      }
    }).finally(async () => {
      await Promise.allSettled([...tools.values()].map(async t => await t.close()))
    })
    // libp2p may leave timers behind after a clean stop; the agent is done, so leave now.
    process.exit(0)
  }
}

/** The MCP tool of each --mcp request, connected. */
async function connectMcpTools (requests: ServeRequest[]): Promise<Map<ServeRequest, McpTool>> {
  const tools = new Map<ServeRequest, McpTool>()
  const mcp = requests.filter(r => r.tool != null)
  if (mcp.length === 0) return tools
  const { connectMcpTool } = await import('../../mcp/tool-handler.ts')
  try {
    for (const request of mcp) tools.set(request, await connectMcpTool({ command: request.command, tool: request.tool! }))
  } catch (err) {
    await Promise.allSettled([...tools.values()].map(async t => await t.close()))
    throw new CliError((err as Error).message, 'mcp_tool')
  }
  return tools
}

async function serve (daemon: Daemon, stored: StoredSpec, request: ServeRequest, source: Serving['source'], containment: HandlerContainment, handler?: Handler): Promise<Serving> {
  const { execHandler } = await import('../../market/exec-handler.ts')
  const options: { priceUsd?: number, estimatedMs?: number, concurrency?: number } = {}
  if (request.priceUsd != null) options.priceUsd = request.priceUsd
  if (request.estimatedMs != null) options.estimatedMs = request.estimatedMs
  if (request.concurrency != null) options.concurrency = request.concurrency
  // The program's stderr goes to this agent's log, line by line, whatever the outcome.
  const onStderr = (line: string, job: { jobId: string }): void => { daemon.log('handler.stderr', { jobId: job.jobId, specId: stored.id, line }) }
  await daemon.node.serve(stored.id, handler ?? execHandler({ command: request.command, onStderr, containment }), options)
  const served = daemon.node.servedSpecs().find(s => s.specId === stored.id)
  return {
    specId: stored.id,
    name: stored.spec.name,
    version: stored.spec.version ?? '',
    priceUsd: served?.priceUsd ?? request.priceUsd ?? 0,
    ...(request.estimatedMs != null ? { estimatedMs: request.estimatedMs } : {}),
    concurrency: served?.limit ?? request.concurrency ?? 1,
    command: request.command,
    ...(request.tool != null ? { tool: request.tool } : {}),
    source
  }
}

/** Poll the node's store until the spec has synced, saying every few seconds that it still waits. Null when shutdown began. */
async function waitForSpec (daemon: Daemon, id: string, waitS: number, signal: AbortSignal): Promise<StoredSpec | null> {
  const started = Date.now()
  let lastProgress = started
  // Besides waiting for sync, ask the DHT for a provider of the spec and fetch it from one;
  // a failed fetch (no provider yet) is tried again every few seconds.
  let fetching: Promise<unknown> | null = null
  let lastFetch = 0
  for (;;) {
    if (signal.aborted) return null
    if (fetching == null && Date.now() - lastFetch >= SPEC_PROGRESS_MS) {
      lastFetch = Date.now()
      fetching = daemon.node.fetchSpec(id).catch(() => {}).finally(() => { fetching = null })
    }
    const stored = await daemon.node.getSpec(id)
    if (stored != null) {
      daemon.log('agent.spec_synced', { specId: id, name: stored.spec.name, waitedMs: Date.now() - started })
      return stored
    }
    const now = Date.now()
    const peers = daemon.node.peers().length
    if (now - started >= waitS * 1000) throw new SpecNotSyncedError(id, waitS, peers)
    if (now - lastProgress >= SPEC_PROGRESS_MS) {
      lastProgress = now
      const waited = Math.round((now - started) / 1000)
      daemon.log('agent.waiting_for_spec', {
        specId: id,
        waitedS: waited,
        peers,
        message: `waiting for spec ${id} to sync from the mesh (${waited} s of ${waitS} s, ${peers} peer${peers === 1 ? '' : 's'} connected)`
      })
    }
    await new Promise(resolve => setTimeout(resolve, SPEC_POLL_MS))
  }
}

function report (io: CliIO, json: boolean, daemon: Daemon, serving: Serving[]): void {
  if (json) {
    printJson(io, { peerId: daemon.node.peerId, multiaddrs: daemon.node.multiaddrs(), api: daemon.api.url, home: daemon.home, pid: process.pid, serving })
    return
  }
  printLines(io, serving.map(s =>
    `serving ${s.specId}  ${s.name}${s.version !== '' ? ` ${s.version}` : ''}  at ${s.priceUsd} USD per job, ${s.concurrency} at a time, with: ${s.tool != null ? `MCP tool ${s.tool} of ${s.command}` : s.command}`))
}

/** A spec is read from disk when the value names an existing file; otherwise it is an id, unless it looks like a path. */
async function isSpecFile (given: string): Promise<boolean> {
  const info = await stat(given).catch(() => null)
  if (info != null) {
    if (!info.isFile()) throw new CliError(`--spec ${given} is a directory, not a spec file`)
    return true
  }
  if (/[/\\]|\.(ya?ml|json)$/i.test(given)) throw new CliError(`--spec ${given}: no such file`, 'not_found')
  return false
}

/** A spec file, loaded and validated offline. */
async function loadSpec (file: string): Promise<unknown> {
  const { loadSpecFile } = await import('../../spec/index.ts')
  try {
    return await loadSpecFile(file)
  } catch (err) {
    const e = err as Error & { problems?: Array<{ path?: unknown, message?: unknown }> }
    if (!Array.isArray(e.problems)) throw new CliError(`--spec ${file}: ${e.message}`, e.name === 'SpecFileError' ? 'bad_spec_file' : 'failed')
    throw new SpecFileProblems(file, e.problems)
  }
}

/** Named like the spec module's error so the CLI reports it as `invalid_spec`, with every problem. */
class SpecFileProblems extends Error {
  override name = 'SpecValidationError'
  readonly problems: Array<{ path?: unknown, message?: unknown }>
  constructor (file: string, problems: Array<{ path?: unknown, message?: unknown }>) {
    super(`--spec ${file} is not a valid spec (${problems.length} problem${problems.length === 1 ? '' : 's'})`)
    this.problems = problems
  }
}

/** Pair the n-th --exec (or --mcp) with the n-th --spec; per-spec options are given once for all or once per spec. */
function serveRequests (options: Record<string, unknown>, path: string[]): ServeRequest[] {
  const specs = list(options.spec)
  const mcps = list(options.mcp)
  const tools = list(options.tool)
  if (specs.length === 0) throw new UsageError('missing --spec SPEC_ID_OR_FILE: the spec to serve', path)
  if (mcps.length > 0 && list(options.exec).length > 0) throw new UsageError('give --exec or --mcp, not both: every spec of one agent is served the same way', path)
  if (mcps.length === 0 && tools.length > 0) throw new UsageError('--tool names a tool of an --mcp server; give --mcp COMMAND too', path)
  if (mcps.length > 0 && tools.length === 0) throw new UsageError('missing --tool NAME: the tool of the --mcp server that executes each job (`specmesh spec from-mcp COMMAND` lists them)', path)
  const execs = mcps.length > 0 ? mcps : list(options.exec)
  const flag = mcps.length > 0 ? '--mcp' : '--exec'
  if (execs.length === 0) throw new UsageError('missing --exec COMMAND: the program that executes each job (or --mcp COMMAND --tool NAME)', path)
  if (specs.length !== execs.length) {
    throw new UsageError(`${specs.length} --spec but ${execs.length} ${flag}: give one ${flag} per --spec, in the same order`, path)
  }
  const perSpec = (flag: string, values: string[]): string[] | null => {
    if (values.length === 0) return null
    if (values.length === 1) return specs.map(() => values[0]!)
    if (values.length === specs.length) return values
    throw new UsageError(`${values.length} ${flag} for ${specs.length} --spec: give it once for all specs or once per spec`, path)
  }
  const toolNames = perSpec('--tool', tools)
  const prices = perSpec('--price', list(options.price))
  const estimates = perSpec('--estimate-ms', list(options['estimate-ms']))
  const concurrencies = perSpec('--concurrency', list(options.concurrency))
  return specs.map((given, i) => {
    const request: ServeRequest = { given, command: execs[i]! }
    if (execs[i]!.trim() === '') throw new UsageError(`${flag} needs a command, not an empty string`, path)
    if (toolNames != null) request.tool = toolNames[i]!
    if (prices != null) request.priceUsd = amount(prices[i]!, path)
    if (estimates != null) request.estimatedMs = integer(estimates[i]!, '--estimate-ms', 0, path)
    if (concurrencies != null) request.concurrency = integer(concurrencies[i]!, '--concurrency', 1, path)
    return request
  })
}

function list (value: unknown): string[] {
  return Array.isArray(value) ? value as string[] : typeof value === 'string' ? [value] : []
}

function amount (value: string, path: string[]): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`--price ${value} is not an amount in USD; use a number ≥ 0 such as 0.02`, path)
  return n
}

function integer (value: string, flag: string, min: number, path: string[]): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} ${value} is not a whole number ≥ ${min}`, path)
  return n
}

function positiveNumber (value: unknown, flag: string, path: string[]): number | undefined {
  if (value == null) return undefined
  const n = Number(value)
  if (String(value).trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} ${String(value)} is not a number of seconds > 0`, path)
  return n
}
