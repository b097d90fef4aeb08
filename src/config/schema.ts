import { z } from 'zod'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { awardPolicyProblems } from '../market/award-policy.ts'
import { SPEC_NAME_PATTERN } from '../spec/constants.ts'

/**
 * `<home>/config.json`: one schema for every setting a data folder keeps.
 * Strict: a key the node does not know is an error naming it (a typo such as
 * "lisen" would otherwise be a setting silently ignored).
 */

/** Whether `parse` takes the value without throwing. */
const parses = (parse: (value: string) => unknown) => (value: string): boolean => {
  try {
    parse(value)
    return true
  } catch {
    return false
  }
}
const isMultiaddr = parses(multiaddr)
const isPeerId = parses(peerIdFromString)

const Multiaddr = z.string().refine(isMultiaddr, { message: 'is not a multiaddr; for example /ip4/0.0.0.0/tcp/4747' })
const PeerAddress = Multiaddr.refine(a => /\/p2p\/[^/]+/.test(a), { message: 'has no /p2p/<peer id>; copy the full address a daemon prints (specmesh id --json)' })

export const ConfigFileSchema = z.object({
  /** Multiaddrs to listen on. Written by `init` (specmesh's port on every interface). */
  listen: z.array(Multiaddr).min(1).optional(),
  /** Multiaddrs to tell peers besides the listen addresses (port forwarding, a public IP), without /p2p. */
  announce: z.array(Multiaddr).optional(),
  /** Peers to dial at start, and to fall back to when the node has lost every peer. */
  bootstrap: z.array(PeerAddress).optional(),
  /** Port of the local API on 127.0.0.1; 0 picks any free port. */
  apiPort: z.number().int().min(0).max(65535).optional(),
  /** Find peers on the local network by mDNS. */
  mdns: z.boolean().optional(),
  /** Join specmesh's Kademlia DHT: provide served specs, find providers. */
  dht: z.boolean().optional(),
  /** Offer circuit relay v2 reservations to peers that cannot be reached directly. */
  relayServer: z.boolean().optional(),
  /** Peers whose verdicts count as this node's own in reputation. */
  trustedPeers: z.array(z.string().refine(isPeerId, { message: 'is not a peer id' })).optional(),
  reputation: z.object({
    halfLifeHours: z.number().positive().finite().optional(),
    teleport: z.number().gt(0).lte(1).optional()
  }).strict().optional(),
  /** Per spec name: the award policy of every job this node submits for it (a job's own wins, field by field). */
  awardPolicies: z.record(z.string().min(1), z.unknown().superRefine((value, ctx) => {
    for (const problem of awardPolicyProblems(value, 'award')) {
      ctx.addIssue({ code: 'custom', message: problem.message, path: problem.path.split('.').slice(1) })
    }
  })).optional(),
  /**
   * The connection budget (src/net/connection-budget.ts): above `high` connections the node
   * closes the ones nobody uses down to `low`. Defaults 48 and 32.
   */
  connections: z.object({
    high: z.number().int().min(1).optional(),
    low: z.number().int().min(0).optional()
  }).strict().superRefine((value, ctx) => {
    if (value.high != null && value.low != null && value.low > value.high) {
      ctx.addIssue({ code: 'custom', path: ['low'], message: `is above connections.high (${value.high}); make it at most that, e.g. ${Math.floor(value.high * 2 / 3)}` })
    }
  }).optional(),
  /** Specs to follow without serving or submitting (auditors, reputation services): ids, name@version or name; or "all". */
  follow: z.union([z.literal('all'), z.array(z.string().refine(isFollowEntry, { message: 'is not a spec id, name or name@version (or "all")' }))]).optional()
}).strict()

/**
 * The connection budget as one word, for `--connections` and SPECMESH_CONNECTIONS:
 * "HIGH" or "HIGH:LOW" (whole numbers). Returns the problem in words when it is not one.
 */
export function parseConnectionBudget (text: string): { high: number, low?: number } | string {
  const match = /^(\d+)(?::(\d+))?$/.exec(text.trim())
  if (match == null) return 'is not HIGH or HIGH:LOW in whole numbers; for example 48:32 (close unused connections above 48, down to 32)'
  const high = Number(match[1])
  if (high < 1) return 'has a high below 1; a node needs at least one connection, for example 48:32'
  if (match[2] == null) return { high }
  const low = Number(match[2])
  if (low > high) return `has a low above its high; make it at most ${high}, for example ${high}:${Math.floor(high * 2 / 3)}`
  return { high, low }
}

/** A `--follow` entry: "all", a spec id, a spec name, or name@version. */
export function isFollowEntry (entry: string): boolean {
  if (entry === 'all' || /^b[a-z2-7]{50,}$/.test(entry)) return true
  const at = entry.indexOf('@')
  const name = at < 0 ? entry : entry.slice(0, at)
  return SPEC_NAME_PATTERN.test(name) && (at < 0 || entry.length > at + 1)
}

/** What the market takes from the `follow` setting: a list containing "all" follows all. */
export function followListOf (follow: readonly string[] | 'all'): readonly string[] | 'all' {
  return follow === 'all' || follow.includes('all') ? 'all' : follow
}

/** The keys of config.json's nested objects, for the "did you mean" of an unknown one. */
export const NESTED_CONFIG_KEYS: Record<string, readonly string[]> = {
  reputation: ['halfLifeHours', 'teleport'],
  connections: ['high', 'low']
}

export type ConfigFile = z.infer<typeof ConfigFileSchema>
export type ConfigKey = keyof ConfigFile

export const CONFIG_KEYS = Object.keys(ConfigFileSchema.shape) as ConfigKey[]
