import { readFile, stat } from 'node:fs/promises'
import { ApiClient, ApiRequestError, DaemonNotRunningError } from '../../api/client.ts'
import type { FetchedReport } from '../../api/routes/reputation.ts'
import { fetchedLine } from './reputation.ts'
import type { AuditMaterial, ReceiptAudit } from '../../api/routes/receipts.ts'
import type { StoredReceipt } from '../../node-types.ts'
import type { CliIO, Command } from '../command.ts'
import { CliError, UsageError } from '../errors.ts'
import { formatTable, printJson, printLines, shortPeerId } from '../output.ts'
import { PAGE_OPTIONS, pageParams, printNextPage, withQuery } from '../paging.ts'

type ReceiptBody = StoredReceipt['envelope']['body']

function usd (n: number): string {
  return `${Number(n.toFixed(6))} USD`
}

function oneLine (text: string, max = 80): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

/**
 * The names of these specs, for tables: one lookup per distinct spec (GET
 * /v1/specs lists only a page of them); a spec the daemon does not hold has none.
 */
async function specNames (client: ApiClient, specIds: string[]): Promise<Map<string, string>> {
  const specs = await Promise.all([...new Set(specIds)].map(async id => await client.getSpec(id).catch(() => null)))
  return new Map(specs.filter(s => s != null).map(s => [s.id, s.spec.name]))
}

export const receiptsCommand: Command = {
  name: 'receipts',
  summary: 'list the execution receipts this node holds',
  description: [
    'List the signed execution receipts the running daemon holds: those it signed as',
    'coordinator and every receipt it received from the mesh. Each receipt records one attempt:',
    'spec, job, agent, outcome, cost and timing. Filters combine; oldest first.'
  ].join('\n'),
  options: {
    agent: { type: 'string', value: 'PEER', description: 'only receipts of this agent (peer id)' },
    spec: { type: 'string', value: 'ID', description: 'only receipts for this spec id' },
    job: { type: 'string', value: 'ID', description: 'only receipts of this job id' },
    ...PAGE_OPTIONS,
    limit: { type: 'string', value: 'N', description: 'the newest N receipts (default 100, at most 10000); a "more:" line on stderr gives the command for older ones' }
  },
  examples: [
    'specmesh receipts',
    'specmesh receipts --agent 12D3KooW… --json',
    'specmesh receipts --job bagaaiera…'
  ],
  run: async (ctx) => {
    const { home, json, options, io } = ctx
    const query = new URLSearchParams()
    for (const [flag, param] of [['agent', 'agent'], ['spec', 'spec'], ['job', 'job']] as const) {
      if (typeof options[flag] === 'string') query.set(param, options[flag])
    }
    const qs = query.toString()
    const client = new ApiClient({ home })
    const { body: receipts, next } = await client.page<StoredReceipt[]>(withQuery('/v1/receipts', pageParams(ctx, query)))
    printNextPage(io, ctx, next)
    if (json) {
      printJson(io, receipts)
      return
    }
    if (receipts.length === 0) {
      printLines(io, [qs === '' ? 'no receipts yet; they appear once jobs run on the mesh' : 'no receipts match'])
      return
    }
    const names = await specNames(client, receipts.map(r => r.envelope.body.specId))
    const rows = receipts.map(({ id, envelope: { body } }) => [
      id,
      names.get(body.specId) ?? `…${body.specId.slice(-10)}`,
      shortPeerId(body.agent),
      body.outcome,
      usd(body.costUsd),
      `${body.endedAt - body.startedAt} ms`,
      oneLine(body.reason ?? '')
    ])
    printLines(io, formatTable(['ID', 'SPEC', 'AGENT', 'OUTCOME', 'COST', 'DURATION', 'REASON'], rows))
  }
}

// ---- receipt verify ----

interface VerifyReport extends ReceiptAudit {
  /** Where the receipt, the spec, the input and the output came from. */
  sources: Record<string, string | null>
  /** Set when the daemon held no such receipt and fetched it from its peers. */
  fetched?: FetchedReport
}

/** A JSON file, parsed; errors name the file and the flag it came from. */
async function readJsonFile (file: string, what: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new CliError(`cannot read ${what} ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, 'bad_file')
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new CliError(`${what} ${file} is not valid JSON: ${(err as Error).message}`, 'invalid_json')
  }
}

/** A spec file for judging a receipt: validated, but it may be past its deadline (the receipt is older). */
async function loadSpec (file: string): Promise<unknown> {
  const { loadSpecFile } = await import('../../spec/index.ts')
  try {
    return await loadSpecFile(file, { requireFutureDeadline: false })
  } catch (err) {
    const e = err as Error & { problems?: unknown }
    if (Array.isArray(e.problems)) throw err
    throw new CliError(`--spec ${file}: ${e.message}`, 'bad_spec_file')
  }
}

/**
 * What a receipt file may hold: the receipt envelope itself, the --json output of
 * `job submit` (its .receipt, and its .output when the job succeeded), or a stored
 * receipt as `receipts --json` and GET /v1/receipts/:id give it (its .envelope).
 */
function receiptFromFile (doc: unknown, file: string): { envelope: unknown, output?: unknown, from: string } {
  const record = doc != null && typeof doc === 'object' && !Array.isArray(doc) ? doc as Record<string, unknown> : null
  if (Array.isArray(doc)) throw new CliError(`${file} holds a list of ${doc.length} receipts; save one of them to a file, or verify it by id`, 'invalid_receipt')
  if (record == null) throw new CliError(`${file} does not hold a receipt: expected a receipt envelope, the --json output of job submit, or a stored receipt`, 'invalid_receipt')
  if (record.type === 'receipt' || ('sig' in record && 'body' in record)) return { envelope: record, from: 'receipt envelope' }
  if ('receipt' in record && 'jobId' in record) {
    if (record.receipt == null) throw new CliError(`${file} is the result of job ${String(record.jobId)}, which has no receipt (${String(record.reason ?? 'no attempt was made')})`, 'invalid_receipt')
    return record.status === 'succeeded' && 'output' in record
      ? { envelope: record.receipt, output: record.output, from: 'job submit result' }
      : { envelope: record.receipt, from: 'job submit result' }
  }
  if ('envelope' in record && 'id' in record) return { envelope: record.envelope, from: 'stored receipt' }
  throw new CliError(`${file} does not hold a receipt: expected a receipt envelope, the --json output of job submit, or a stored receipt`, 'invalid_receipt')
}

async function verifyFile (file: string, home: string, flags: { spec?: string, input?: string, output?: string }): Promise<VerifyReport> {
  const { envelope, output: bundledOutput, from } = receiptFromFile(await readJsonFile(file, 'receipt file'), file)
  const sources: Record<string, string | null> = { receipt: `${file} (${from})`, spec: null, input: null, output: null }
  const material: AuditMaterial = {
    hints: { spec: 'pass --spec FILE', input: 'pass --input FILE', output: 'pass --output FILE' }
  }
  if (flags.spec != null) {
    material.spec = await loadSpec(flags.spec) as NonNullable<AuditMaterial['spec']>
    sources.spec = flags.spec
  } else {
    // No spec given: the running daemon may hold the one the receipt names.
    const specId = (envelope as { body?: { specId?: unknown } } | null)?.body?.specId
    if (typeof specId === 'string') {
      try {
        material.spec = (await new ApiClient({ home }).getSpec(specId)).spec
        sources.spec = `daemon (${home})`
      } catch (err) {
        if (!(err instanceof DaemonNotRunningError) && !(err instanceof ApiRequestError)) throw err
      }
    }
  }
  if (flags.input != null) {
    material.input = await readJsonFile(flags.input, '--input')
    sources.input = flags.input
  }
  if (flags.output != null) {
    material.output = await readJsonFile(flags.output, '--output')
    sources.output = flags.output
  } else if (bundledOutput !== undefined) {
    material.output = bundledOutput
    sources.output = file
  }
  const { auditReceipt } = await import('../../api/routes/receipts.ts')
  return { ...auditReceipt(envelope, material), sources }
}

async function verifyById (id: string, home: string, flags: { spec?: string, input?: string, output?: string }): Promise<VerifyReport> {
  const body: Record<string, unknown> = {}
  if (flags.spec != null) body.spec = await loadSpec(flags.spec)
  if (flags.input != null) body.input = await readJsonFile(flags.input, '--input')
  if (flags.output != null) body.output = await readJsonFile(flags.output, '--output')
  try {
    const report = await new ApiClient({ home }).request('POST', `/v1/receipts/${encodeURIComponent(id)}/verify`, body) as VerifyReport
    // The daemon's hints speak of its API; this is the command line.
    for (const s of report.skipped) s.detail = s.detail.replace(/send it as "(\w+)" in the body/, (_m, field: string) => `pass --${field} FILE`)
    report.sources = { receipt: `daemon (${home})`, ...report.sources }
    return report
  } catch (err) {
    if (err instanceof ApiRequestError && err.status === 404 && err.code === 'not_found') {
      throw new ApiRequestError(404, 'not_found', `no receipt with id ${id} on this node; \`specmesh receipts\` lists them (or give a receipt file)`)
    }
    throw err
  }
}

function printReport (io: CliIO, report: VerifyReport, what: string): void {
  const failed = report.checks.filter(c => !c.ok).length
  const head = report.ok
    ? `receipt ${report.receiptId} verified: ${report.checks.length} check${report.checks.length === 1 ? '' : 's'} pass`
    : `receipt ${report.receiptId ?? `in ${what}`} FAILS verification: ${failed} of ${report.checks.length} check${report.checks.length === 1 ? '' : 's'} fail${failed === 1 ? 's' : ''}`
  const width = Math.max(0, ...report.checks.map(c => c.check.length), ...report.skipped.map(s => s.check.length))
  printLines(io, [
    ...(report.fetched != null ? [fetchedLine(report.fetched, 'with this id')] : []),
    head,
    ...report.checks.map(c => `  ${c.ok ? '✓' : '✗'} ${c.check.padEnd(width)}  ${c.detail}`),
    ...report.skipped.map(s => `  - ${s.check.padEnd(width)}  not checked: ${s.detail}`)
  ])
}

const verifyCommand: Command = {
  name: 'verify',
  summary: 'check a receipt on its own: signatures, hashes, timing, budget, criteria',
  description: [
    'Audit one receipt against its spec: the coordinator\'s signature on the receipt, the agent\'s',
    'signature on its embedded claim, the input and output hashes against the payloads, timing',
    'against the deadline, cost against the budget, and the outcome against the success criteria.',
    'Every check is printed with ✓ or ✗; checks that need what is not at hand are listed as not',
    'checked, with the flag that supplies it. Exit code 0 only when every check made passes.',
    '',
    'With a receipt id, the running daemon verifies its stored copy, using the spec it holds and,',
    'when it coordinated the job, the job\'s output; a receipt it does not hold is fetched from its',
    'connected peers first (the output says so). With a file (a receipt envelope, the --json',
    'output of `job submit`, or one stored receipt from `receipts --json`), the check runs here,',
    'offline; the spec comes from --spec, or from the running daemon when there is one.'
  ].join('\n'),
  args: [{ name: 'RECEIPT_FILE_OR_ID', description: 'a receipt id, or a JSON file holding a receipt' }],
  options: {
    spec: { type: 'string', value: 'FILE', description: 'the spec the receipt names, as a spec file (YAML or JSON)' },
    input: { type: 'string', value: 'FILE', description: 'the job\'s input, as JSON: checks the input hash (and criteria that read the input)' },
    output: { type: 'string', value: 'FILE', description: 'the job\'s output, as JSON: checks the output hash and the criteria' }
  },
  examples: [
    'specmesh receipt verify bagaaiera…',
    'specmesh job submit <spec id> --input text.json --json > result.json && specmesh receipt verify result.json --spec extract-entities.yaml --input text.json',
    'specmesh receipt verify receipt.json --spec extract-entities.yaml --json'
  ],
  run: async ({ args, home, json, options, io }) => {
    const given = args[0]!
    const flags: { spec?: string, input?: string, output?: string } = {}
    for (const flag of ['spec', 'input', 'output'] as const) if (typeof options[flag] === 'string') flags[flag] = options[flag]
    const info = await stat(given).catch(() => null)
    let report: VerifyReport
    if (info != null && info.isFile()) report = await verifyFile(given, home, flags)
    else if (info != null || /[/\\]|\.json$/i.test(given)) throw new CliError(`${given}: no such receipt file`, 'bad_file')
    else report = await verifyById(given, home, flags)
    if (json) printJson(io, report)
    else printReport(io, report, given)
    return report.ok ? 0 : 1
  }
}

const showCommand: Command = {
  name: 'show',
  summary: 'show one receipt this node holds',
  description: 'Show a stored receipt by id: what it records, and with --json the signed envelope itself (save it to a file to verify it elsewhere).',
  args: [{ name: 'ID', description: 'receipt id, as printed by receipts or job submit' }],
  examples: ['specmesh receipt show bagaaiera…', 'specmesh receipt show bagaaiera… --json > receipt.json'],
  run: async ({ args, home, json, io }) => {
    let stored: StoredReceipt
    try {
      stored = await new ApiClient({ home }).request('GET', `/v1/receipts/${encodeURIComponent(args[0]!)}`) as StoredReceipt
    } catch (err) {
      if (err instanceof ApiRequestError && err.status === 404) {
        throw new ApiRequestError(404, 'not_found', `no receipt with id ${args[0]} on this node; \`specmesh receipts\` lists them`)
      }
      throw err
    }
    if (json) {
      printJson(io, stored.envelope)
      return
    }
    const b: ReceiptBody = stored.envelope.body
    printLines(io, [
      `receipt ${stored.id}`,
      `  outcome      ${b.outcome}${b.reason != null ? `: ${b.reason}` : ''}`,
      `  spec         ${b.specId}`,
      `  job          ${b.jobId} (attempt ${b.attempt})`,
      `  agent        ${b.agent}`,
      `  coordinator  ${stored.envelope.signer}`,
      `  cost         ${usd(b.costUsd)}`,
      `  ran          ${new Date(b.startedAt).toISOString()} to ${new Date(b.endedAt).toISOString()} (${b.endedAt - b.startedAt} ms)`,
      `  deadline     ${new Date(b.deadline).toISOString()}`,
      `  input hash   ${b.inputHash}`,
      ...(b.outputHash != null ? [`  output hash  ${b.outputHash}`] : []),
      `  received     ${new Date(stored.receivedAt).toISOString()}`
    ])
  }
}

export const receiptCommand: Command = {
  name: 'receipt',
  summary: 'show and verify one execution receipt',
  description: [
    'A receipt is the signed record of one execution attempt: signed by the coordinator, with',
    'the agent\'s signed claim inside. `verify` checks one against its spec, by id through the',
    'daemon or offline from a file.'
  ].join('\n'),
  subcommands: [verifyCommand, showCommand],
  examples: [
    'specmesh receipt verify <receipt id>',
    'specmesh receipt verify receipt.json --spec extract-entities.yaml',
    'specmesh receipt show <receipt id> --json > receipt.json'
  ]
}
