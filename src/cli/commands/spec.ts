import { stringify as toYaml } from 'yaml'
import { ApiClient, ApiRequestError } from '../../api/client.ts'
import { formatPath } from '../../api/errors.ts'
import type { StoredSpec } from '../../node-types.ts'
import type { CliIO, Command } from '../command.ts'
import { formatTable, printJson, printLines, shortPeerId } from '../output.ts'

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
  description: 'List every spec the running daemon holds: its own and those learned from the mesh.',
  examples: ['specmesh spec list', 'specmesh spec list --json'],
  run: async ({ home, json, io }) => {
    const specs = await new ApiClient({ home }).listSpecs()
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

const showCommand: Command = {
  name: 'show',
  summary: 'show one spec the running node holds',
  description: 'Show a spec by id: who signed it, when this node learned of it, and the spec itself (as YAML; as the stored record with --json).',
  args: [{ name: 'ID', description: 'spec id, as printed by publish or list' }],
  examples: ['specmesh spec show bagaaiera…', 'specmesh spec show bagaaiera… --json'],
  run: async ({ args, home, json, io }) => {
    let stored: StoredSpec
    try {
      stored = await new ApiClient({ home }).getSpec(args[0]!)
    } catch (err) {
      if (err instanceof ApiRequestError && err.status === 404) {
        throw new ApiRequestError(404, 'not_found', `no spec with id ${args[0]} on this node; see: specmesh spec list`)
      }
      throw err
    }
    if (json) {
      printJson(io, stored)
      return
    }
    printLines(io, [
      `id        ${stored.id}`,
      `signer    ${stored.signer}`,
      `received  ${new Date(stored.receivedAt).toISOString()}`,
      '',
      toYaml(stored.spec).trimEnd()
    ])
  }
}

export const specCommand: Command = {
  name: 'spec',
  summary: 'validate, publish and browse specs',
  description: [
    'Specs are signed, content-addressed contracts for one kind of task: input and output',
    'schemas, success criteria, capacity, deadline and budget. `validate` works offline; the',
    'other commands talk to the running daemon.'
  ].join('\n'),
  subcommands: [validateCommand, publishCommand, listCommand, showCommand],
  examples: [
    'specmesh spec validate extract-entities.yaml',
    'specmesh spec publish extract-entities.yaml',
    'specmesh spec list',
    'specmesh spec show <id> --json'
  ]
}
