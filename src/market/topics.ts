import { TOPICS } from '../wire/constants.ts'

/**
 * Per-spec market topics (protocols/market.md "Topics"). Jobs, bids, awards,
 * capacity adverts and receipts of spec S travel on S's own five topics, so a
 * node receives the market traffic of the specs it serves, coordinates or
 * follows, and nothing else. Specs stay on the global TOPICS.specs: they are
 * small and rare, and every node needs them to resolve names.
 */
/** `leases` carries lease calls, lease bids and leases (protocols/market.md "Leases"). */
export const SPEC_TOPIC_KINDS = ['jobs', 'bids', 'awards', 'capacity', 'receipts', 'leases'] as const
export type SpecTopicKind = typeof SPEC_TOPIC_KINDS[number]

/**
 * 'per-spec' (the default): the topics above. 'global': every node on the one
 * topic per kind of TOPICS, as before per-spec topics; kept so bench:scale can
 * measure both side by side. Nodes in different modes do not meet on market
 * traffic (they still share specs).
 */
export type TopicMode = 'per-spec' | 'global'
export const TOPIC_MODES: readonly TopicMode[] = ['per-spec', 'global']

const PREFIX = '/specmesh/spec/2/'

/** The topic of one kind of market message for one spec: `/specmesh/spec/2/<specId>/<kind>`. */
export function specTopic (specId: string, kind: SpecTopicKind): string {
  return `${PREFIX}${specId}/${kind}`
}

/** The spec and kind a per-spec topic names, or null for any other topic. */
export function parseSpecTopic (topic: string): { specId: string, kind: SpecTopicKind } | null {
  if (!topic.startsWith(PREFIX)) return null
  const rest = topic.slice(PREFIX.length)
  const slash = rest.indexOf('/')
  if (slash <= 0) return null
  const specId = rest.slice(0, slash)
  const kind = rest.slice(slash + 1) as SpecTopicKind
  return SPEC_TOPIC_KINDS.includes(kind) ? { specId, kind } : null
}

/** Where a market message about `specId` is published under `mode`. */
export function marketTopic (mode: TopicMode, specId: string, kind: SpecTopicKind): string {
  return mode === 'global' ? TOPICS[kind] : specTopic(specId, kind)
}
