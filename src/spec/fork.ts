import YAML from 'yaml'
import { canonicalize } from '../wire/canonical.ts'
import type { Problem } from './errors.ts'
import { isPlainObject } from './json-schema.ts'
import { SPEC_FIELDS, BUDGET_FIELDS, CAPACITY_FIELDS, type Spec } from './schema.ts'
import { didYouMean, describeType, snakeCase } from './suggest.ts'
import { validateSpec } from './validate.ts'

/**
 * Forks: a change to a spec is a new spec whose `parent` is the old one's id
 * (specs are immutable and content-addressed). SLA variants (cheap/slow,
 * fast/dear) are forks with a `variant` label. Everything here is pure: the
 * node looks the parent up, and publishes what `forkSpec` returns.
 */

/** One `--set path=value`: `path` as the user wrote it, `value` already typed. */
export interface Assignment {
  path: string
  value: unknown
}

/** One field that differs between the parent and the fork. `from`/`to` absent means the field was absent. */
export interface SpecChange {
  path: string
  from?: unknown
  to?: unknown
}

export type ForkResult =
  | { ok: true, spec: Spec, changes: SpecChange[] }
  | { ok: false, problems: Problem[] }

export interface ForkOptions {
  /** Clock for the deadline checks, epoch ms. @default Date.now() */
  now?: number
}

/** Deepest `--set` path accepted; spec bodies are bounded anyway, this keeps messages sane. */
export const MAX_SET_PATH_DEPTH = 16

/** Sections whose keys are spec fields (aliases accepted); the keys of every other mapping are the author's. */
const SECTION_FIELDS: Record<string, readonly string[]> = {
  '': SPEC_FIELDS,
  budget: BUDGET_FIELDS,
  capacity: CAPACITY_FIELDS
}

/** Fields whose value is text: `--set version=2.0` means "2.0", not the number 2. */
const TEXT_FIELDS = new Set(['name', 'version', 'description', 'variant'])

type Segment = string | number

/**
 * Splits `a.b[2].c` into ['a', 'b', 2, 'c']. A numeric segment after a dot
 * (`successCriteria.1`) is an index too. Returns a problem message when the
 * path is malformed.
 */
export function parsePath (path: string): Segment[] | string {
  const text = path.trim()
  if (text === '') return 'the path is empty; name a field, e.g. deadline or budget.maxUsd'
  const segments: Segment[] = []
  for (const part of text.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part)
    if (m == null || (m[1] === '' && m[2] === '')) return `"${path}" is not a field path; write names separated by dots, e.g. budget.maxUsd or successCriteria[0]`
    if (m[1] !== '') segments.push(/^\d+$/.test(m[1]!) ? Number(m[1]) : m[1]!)
    for (const [, index] of m[2]!.matchAll(/\[(\d+)\]/g)) segments.push(Number(index))
  }
  if (typeof segments[0] === 'number') return `"${path}" starts with an index; start with a field name, e.g. successCriteria[0]`
  if (segments.length > MAX_SET_PATH_DEPTH) return `"${path}" is more than ${MAX_SET_PATH_DEPTH} levels deep`
  return segments
}

/**
 * Canonical spelling of the spec-field segments of a path: snake_case aliases
 * become camelCase at the top level and inside budget and capacity, as in spec
 * files. Keys inside input, output and budget.costBreakdown are kept verbatim.
 */
export function canonicalPath (segments: Segment[]): Segment[] {
  const out: Segment[] = []
  let section: string | null = ''
  for (const segment of segments) {
    const fields: readonly string[] | undefined = section == null ? undefined : SECTION_FIELDS[section]
    if (typeof segment === 'string' && fields != null) {
      const name: string = fields.find(f => f === segment || snakeCase(f) === segment) ?? segment
      out.push(name)
      section = section === '' && (name === 'budget' || name === 'capacity') ? name : null
    } else {
      out.push(segment)
      section = null
    }
  }
  return out
}

export function formatSegments (segments: Segment[]): string {
  return segments.map((s, i) => typeof s === 'number' ? `[${s}]` : (i === 0 ? s : `.${s}`)).join('')
}

/**
 * Parses one `path=value` argument of `spec fork --set`. The value is read as
 * YAML, so `0.2` is a number, `true` a boolean, `null` (or nothing) removes the
 * field, `[a, b]` a list and `{type: string}` a mapping; `2m` and timestamps
 * stay strings (the spec format reads them as durations and instants). For text
 * fields (name, version, description, variant) the value is kept as written.
 */
export function parseAssignment (arg: string): { ok: true, assignment: Assignment } | { ok: false, message: string } {
  const eq = arg.indexOf('=')
  if (eq <= 0) return { ok: false, message: `--set ${arg} is not FIELD=VALUE; write e.g. --set deadline=1m or --set budget.maxUsd=0.2` }
  const path = arg.slice(0, eq).trim()
  const source = arg.slice(eq + 1)
  const segments = parsePath(path)
  if (typeof segments === 'string') return { ok: false, message: `--set ${arg}: ${segments}` }
  const canonical = canonicalPath(segments)
  if (canonical.length === 1 && TEXT_FIELDS.has(canonical[0] as string) && source.trim() !== '' && source.trim() !== 'null') {
    return { ok: true, assignment: { path, value: unquote(source.trim()) } }
  }
  let value: unknown
  try {
    // YAML 1.2 core schema: yes/no stay strings, timestamps stay strings.
    value = YAML.parse(source, { schema: 'core', strict: true, uniqueKeys: true })
  } catch (err) {
    return { ok: false, message: `--set ${arg}: the value is not valid YAML (${(err as Error).message.split('\n')[0]}); quote it` }
  }
  if (value === undefined) value = null
  if (typeof value === 'number' && !Number.isFinite(value)) return { ok: false, message: `--set ${arg}: ${source} is not a finite number` }
  return { ok: true, assignment: { path, value } }
}

function unquote (text: string): string {
  const m = /^(["'])(.*)\1$/s.exec(text)
  return m == null ? text : m[2]!
}

/** A deep copy of plain JSON. */
function clone<T> (value: T): T {
  return structuredClone(value)
}

/**
 * Applies one assignment to a spec body (in place). `null` removes the field.
 * Returns a problem when the path runs through something that is not a mapping
 * or a list, or names `parent` (which the fork sets itself).
 */
function assign (body: Record<string, unknown>, path: string, value: unknown): Problem | null {
  const parsed = parsePath(path)
  if (typeof parsed === 'string') return { path, message: parsed }
  const segments = canonicalPath(parsed)
  const where = formatSegments(segments)
  if (segments[0] === 'parent') return { path: 'parent', message: 'is set by the fork itself to the id of the spec being forked; remove this --set' }
  const top = segments[0] as string
  if (!SPEC_FIELDS.includes(top as keyof Spec)) {
    const guess = didYouMean(top, [...SPEC_FIELDS, ...SPEC_FIELDS.map(snakeCase)])
    return { path: top, message: `unknown field${guess != null ? `; did you mean "${guess}"?` : `; the fields of a spec are ${SPEC_FIELDS.join(', ')}`}` }
  }
  let node: unknown = body
  for (let i = 0; i < segments.length - 1; i++) {
    const key = segments[i]!
    const container = node as Record<string, unknown> | unknown[]
    let next = (container as Record<string | number, unknown>)[key]
    if (next === undefined || next === null) {
      if (value === null) return null // removing below something absent: nothing to do
      // `budget.maxUsd=0.2` on a spec without a budget creates it (the format fills the defaults).
      next = typeof segments[i + 1] === 'number' ? [] : {}
      if (Array.isArray(container) && typeof key === 'number' && key > container.length) {
        return { path: formatSegments(segments.slice(0, i + 1)), message: `index ${key} is past the end of the list (it has ${container.length} entries); use [${container.length}] to append` }
      }
      setKey(container, key, next)
    }
    const wantsList = typeof segments[i + 1] === 'number'
    if (wantsList ? !Array.isArray(next) : !isPlainObject(next)) {
      return { path: formatSegments(segments.slice(0, i + 1)), message: `is ${describeType(next)}, so ${where} cannot be set inside it; set ${formatSegments(segments.slice(0, i + 1))} as a whole instead` }
    }
    node = next
  }
  const last = segments.at(-1)!
  if (Array.isArray(node)) {
    const index = last as number
    if (index > node.length) return { path: where, message: `index ${index} is past the end of the list (it has ${node.length} entries); use [${node.length}] to append` }
    if (value === null) {
      if (index < node.length) node.splice(index, 1)
    } else {
      node[index] = value
    }
    return null
  }
  const record = node as Record<string, unknown>
  if (value === null) delete record[last as string]
  else setKey(record, last, value)
  return null
}

function setKey (container: Record<string, unknown> | unknown[], key: Segment, value: unknown): void {
  // defineProperty: a key named __proto__ stays an ordinary key.
  Object.defineProperty(container, key, { value, enumerable: true, writable: true, configurable: true })
}

/**
 * Fields that differ between two canonical specs, as dotted paths down to the
 * leaves (mappings compared key by key, lists of equal length entry by entry).
 * `parent` is left out: every fork changes it.
 */
export function specChanges (before: Record<string, unknown>, after: Record<string, unknown>): SpecChange[] {
  const changes: SpecChange[] = []
  const walk = (a: unknown, b: unknown, segments: Segment[]): void => {
    if (a !== undefined && b !== undefined && canonicalize(a) === canonicalize(b)) return
    if (isPlainObject(a) && isPlainObject(b)) {
      const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])]
      for (const key of keys) walk(a[key], b[key], [...segments, key])
      return
    }
    if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
      a.forEach((item, i) => walk(item, b[i], [...segments, i]))
      return
    }
    if (a === undefined && b === undefined) return
    const change: SpecChange = { path: formatSegments(segments) }
    if (a !== undefined) change.from = a
    if (b !== undefined) change.to = b
    changes.push(change)
  }
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (key === 'parent') continue
    walk(before[key], after[key], [key])
  }
  return changes
}

/**
 * The fork of `parent` (a canonical spec whose id is `parentId`) with every
 * assignment applied in order, `parent` set to `parentId`, then normalized and
 * validated like any spec about to be published (an absolute deadline must
 * still be in the future). Problems name the field in canonical form. A fork
 * that changes nothing is refused: it would only differ from its parent by
 * the `parent` field.
 */
export function forkSpec (parentId: string, parent: Spec, assignments: Assignment[], options: ForkOptions = {}): ForkResult {
  if (assignments.length === 0) {
    return { ok: false, problems: [{ path: '', message: 'nothing to change; give at least one field to set, e.g. --set variant=fast --set deadline=1m' }] }
  }
  const body = clone(parent) as Record<string, unknown>
  const problems: Problem[] = []
  for (const { path, value } of assignments) {
    const problem = assign(body, path, value)
    if (problem != null) problems.push(problem)
  }
  if (problems.length > 0) return { ok: false, problems }
  body.parent = parentId
  const checked = validateSpec(body, options.now != null ? { now: options.now } : {})
  if (!checked.ok) return { ok: false, problems: checked.problems }
  const changes = specChanges(parent as Record<string, unknown>, checked.spec as Record<string, unknown>)
  if (changes.length === 0) {
    return { ok: false, problems: [{ path: '', message: 'the fork would be identical to its parent; set at least one field to a different value' }] }
  }
  return { ok: true, spec: checked.spec, changes }
}

/** A spec in a lineage, as far as this node knows it. */
export interface LineageEntry {
  id: string
  /** False when the node does not hold this spec (only its id is known, from a child's `parent`). */
  held: boolean
  name?: string
  version?: string
  variant?: string
  /** For descendants: 1 for a direct fork, 2 for a fork of a fork, … */
  depth?: number
  parent?: string
}

export interface Lineage {
  id: string
  /** Parent first, then its parent, … up to the first spec without a parent or the first one not held. */
  ancestors: LineageEntry[]
  /** Every known fork below this spec, depth first (a fork directly after its parent). */
  descendants: LineageEntry[]
}

/** Longest parent chain followed; content addressing makes cycles impossible, this bounds a forged store. */
export const MAX_LINEAGE_DEPTH = 64

function entryOf (id: string, spec: Spec | undefined): LineageEntry {
  if (spec == null) return { id, held: false }
  const entry: LineageEntry = { id, held: true, name: spec.name }
  if (spec.version != null) entry.version = spec.version
  if (spec.variant != null) entry.variant = spec.variant
  return entry
}

/** The lineage of spec `id` among the specs a node holds (`specs`: id → spec). */
export function specLineage (id: string, specs: ReadonlyMap<string, Spec>): Lineage {
  const ancestors: LineageEntry[] = []
  const seen = new Set([id])
  let next = specs.get(id)?.parent
  while (next != null && !seen.has(next) && ancestors.length < MAX_LINEAGE_DEPTH) {
    seen.add(next)
    const spec = specs.get(next)
    ancestors.push(entryOf(next, spec))
    next = spec?.parent
  }
  const children = new Map<string, string[]>()
  for (const [childId, spec] of specs) {
    if (spec.parent == null) continue
    const list = children.get(spec.parent) ?? []
    list.push(childId)
    children.set(spec.parent, list)
  }
  const descendants: LineageEntry[] = []
  const visited = new Set([id])
  const walk = (parentId: string, depth: number): void => {
    if (depth > MAX_LINEAGE_DEPTH) return
    for (const childId of (children.get(parentId) ?? []).sort()) {
      if (visited.has(childId)) continue
      visited.add(childId)
      descendants.push({ ...entryOf(childId, specs.get(childId)), depth, parent: parentId })
      walk(childId, depth + 1)
    }
  }
  walk(id, 1)
  return { id, ancestors, descendants }
}
