/**
 * What a person types for an id, made into the id: the full id, a unique
 * prefix of it, and where a spec is meant its `name` or `name@version`. The API
 * resolves every id it is given here, so the CLI, the dashboard, scripts and
 * workflows all accept the same forms and fail with the same words.
 */
import type { SpecmeshNode, StoredSpec } from './node-types.ts'
import { acceptsNewJobs } from './spec/index.ts'

export type IdKind = 'spec' | 'job' | 'receipt'

/** A full content id: CIDv1 base32, as every spec, job and receipt id is. */
export const FULL_ID = /^b[a-z2-7]{50,}$/
/** What may be a prefix of such an id. Every id starts "bagaaiera", so a useful prefix is longer. */
const ID_PREFIX = /^b[a-z2-7]*$/
/** Shortest prefix looked up: below this nearly everything matches. */
export const MIN_ID_PREFIX = 4
/** Matches listed in an ambiguity error. */
const MAX_LISTED = 10

/** No id, prefix or name matched. */
export class UnknownIdError extends Error {
  override name = 'UnknownIdError'
  readonly kind: IdKind
  readonly ref: string

  constructor (kind: IdKind, ref: string, message: string) {
    super(message)
    this.kind = kind
    this.ref = ref
  }
}

/** A prefix or name matches more than one: the caller must say which. */
export class AmbiguousIdError extends Error {
  override name = 'AmbiguousIdError'
  readonly kind: IdKind
  readonly ref: string
  readonly matches: string[]

  constructor (kind: IdKind, ref: string, matches: string[], message: string) {
    super(message)
    this.kind = kind
    this.ref = ref
    this.matches = matches
  }
}

export type SpecNode = Pick<SpecmeshNode, 'getSpec' | 'listSpecs' | 'matchIds'> & Partial<Pick<SpecmeshNode, 'fetchSpec' | 'specsNamed'>>
export type IdNode = Pick<SpecmeshNode, 'listJobs' | 'listReceipts' | 'matchIds'>

/** Ids of `kind` starting with `prefix`, at most `limit`: through the stores' key order when the node offers it. */
async function idsWithPrefix (node: Partial<SpecNode & IdNode>, kind: IdKind, prefix: string, limit: number): Promise<string[]> {
  if (node.matchIds != null) return await node.matchIds(kind, prefix, limit)
  const all = kind === 'spec'
    ? (await node.listSpecs!()).map(s => s.id)
    : kind === 'job'
      ? (await node.listJobs!()).map(j => j.jobId)
      : (await node.listReceipts!()).map(r => r.id)
  return all.filter(id => id.startsWith(prefix)).slice(0, limit)
}

/** The specs held under `name`: from the node's name index where it has one, else from the full list. */
export async function specsNamed (node: Pick<SpecNode, 'listSpecs' | 'specsNamed'>, name: string): Promise<StoredSpec[]> {
  if (node.specsNamed != null) return await node.specsNamed(name)
  return (await node.listSpecs()).filter(s => s.spec.name === name)
}

const listHint: Record<IdKind, string> = {
  spec: 'specmesh spec list',
  job: 'specmesh job list',
  receipt: 'specmesh receipts'
}

function ambiguous (kind: IdKind, ref: string, matches: string[], more: boolean): AmbiguousIdError {
  const list = matches.slice(0, MAX_LISTED).join(', ')
  return new AmbiguousIdError(kind, ref, matches.slice(0, MAX_LISTED),
    `"${ref}" is the start of ${more || matches.length > MAX_LISTED ? `more than ${MAX_LISTED}` : matches.length} ${kind} ids: ${list}${more || matches.length > MAX_LISTED ? ', …' : ''}; type more of the id`)
}

/**
 * The job or receipt this node holds under an id or a unique prefix of it.
 * `get` reads one record by its full id: a full id costs that one read, and
 * the caller has the record without reading it again.
 */
export async function resolveRecord<T> (node: IdNode, kind: 'job' | 'receipt', ref: string, get: (id: string) => Promise<T | null>): Promise<T> {
  const exact = await get(ref)
  if (exact != null) return exact
  if (ID_PREFIX.test(ref) && ref.length >= MIN_ID_PREFIX) {
    const matches = await idsWithPrefix(node, kind, ref, MAX_LISTED + 1)
    if (matches.length > 1) throw ambiguous(kind, ref, matches, matches.length > MAX_LISTED)
    const found = matches.length === 1 ? await get(matches[0]!) : null
    if (found != null) return found
  }
  const tooShort = ID_PREFIX.test(ref) && ref.length < MIN_ID_PREFIX ? ` (a prefix needs at least ${MIN_ID_PREFIX} characters)` : ''
  throw new UnknownIdError(kind, ref, `this node has no ${kind} whose id is or starts with "${ref}"${tooShort}; see: ${listHint[kind]}`)
}

export interface ResolveSpecOptions {
  /** Only specs that still take new jobs count when a name is given (for submitting work). @default false */
  acceptingJobs?: boolean
  /** @default Date.now() */
  now?: number
}

/**
 * A spec this node holds, from its id, a unique id prefix, its name or
 * name@version. A name that fits several specs is ambiguous unless only one of
 * them takes jobs and `acceptingJobs` is set (as workflows and job submission do).
 */
export async function resolveSpec (node: SpecNode, ref: string, options: ResolveSpecOptions = {}): Promise<StoredSpec> {
  const now = options.now ?? Date.now()
  const exact = await node.getSpec(ref)
  if (exact != null) return exact
  if (FULL_ID.test(ref)) {
    // Not held here: a provider in the DHT may have it (fetched and validated as gossip would).
    const fetched = await node.fetchSpec?.(ref).catch(() => null)
    if (fetched != null) return fetched
    throw new UnknownIdError('spec', ref, `this node holds no spec with id ${ref}${node.fetchSpec != null ? ', and neither a provider in the DHT nor a connected peer had it' : ''}; publish it (specmesh spec publish FILE) or check the id with: specmesh spec list`)
  }
  const at = ref.indexOf('@')
  const name = at === -1 ? ref : ref.slice(0, at)
  const version = at === -1 ? undefined : ref.slice(at + 1)
  const named = (await specsNamed(node, name)).filter(s => version === undefined || s.spec.version === version)
  if (named.length > 0) {
    const candidates = options.acceptingJobs === true ? named.filter(s => acceptsNewJobs(s.spec, now)) : named
    if (candidates.length === 1) return candidates[0]!
    if (candidates.length > 1) {
      const list = candidates.map(s => `${s.id} (${[s.spec.version, s.spec.variant].filter(Boolean).join(' ') || 'no version'})`).join(', ')
      throw new AmbiguousIdError('spec', ref, candidates.map(s => s.id), `"${ref}" matches ${candidates.length} specs on this node: ${list}; write the id, or name@version`)
    }
    throw new UnknownIdError('spec', ref, `every spec named "${ref}" on this node is past its deadline or soft deadline, so it takes no new jobs; publish a new one`)
  }
  if (ID_PREFIX.test(ref) && ref.length >= MIN_ID_PREFIX) {
    const matches = await idsWithPrefix(node, 'spec', ref, MAX_LISTED + 1)
    if (matches.length > 1) throw ambiguous('spec', ref, matches, matches.length > MAX_LISTED)
    if (matches.length === 1) {
      const stored = await node.getSpec(matches[0]!)
      if (stored != null) return stored
    }
  }
  if (ID_PREFIX.test(ref) && ref.length >= 10) {
    throw new UnknownIdError('spec', ref, `this node holds no spec with id ${ref} (nor one whose id starts so, nor one so named); publish it (specmesh spec publish FILE) or check the id with: specmesh spec list`)
  }
  // Only a failed lookup reads every spec: to say which names there are.
  const names = [...new Set((await node.listSpecs()).map(s => s.spec.name))]
  throw new UnknownIdError('spec', ref, `this node holds no spec named "${ref}"${names.length > 0 ? ` (it holds ${names.slice(0, 8).map(n => `"${n}"`).join(', ')}${names.length > 8 ? ', …' : ''})` : ''}; publish it first (specmesh spec publish FILE), or write its id`)
}
