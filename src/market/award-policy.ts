import { isCanonicalPeerId } from '../crypto/signatures.ts'
import type { JobProblem } from './job-errors.ts'
import type { AwardPolicy } from './scoring.ts'

/**
 * The requester's award policy as it arrives from a flag, an API body, a
 * workflow file or an SDK call: checked once here, so every door gives the same
 * errors. `explore` takes a boolean or "on"/"off" (YAML and flags write it so).
 */

/** An award policy as a requester writes it: `explore` may also be "on" or "off". */
export type AwardPolicyInput = Omit<AwardPolicy, 'explore'> & { explore?: boolean | 'on' | 'off' }

/** Most preferred agents one job may name. */
export const MAX_PREFERRED_AGENTS = 64

/** "on"/"off"/"true"/"false" or a boolean → boolean; anything else → undefined. */
export function parseExplore (value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value
  if (typeof value !== 'string') return undefined
  const v = value.trim().toLowerCase()
  if (v === 'on' || v === 'true') return true
  if (v === 'off' || v === 'false') return false
  return undefined
}

/**
 * Problems of a raw policy, each with its path under `prefix` and the fix; empty
 * when it is good. `normalizeAwardPolicy` gives the checked value.
 */
export function awardPolicyProblems (raw: unknown, prefix = 'award'): JobProblem[] {
  if (raw === undefined) return []
  if (raw == null || typeof raw !== 'object' || Array.isArray(raw)) {
    return [{ path: prefix, message: 'must be an object such as {"explore": false, "minReputation": 0.8, "preferredAgents": ["12D3KooW…"]}' }]
  }
  const problems: JobProblem[] = []
  const { explore, minReputation, preferredAgents, ...rest } = raw as Record<string, unknown>
  for (const key of Object.keys(rest)) problems.push({ path: `${prefix}.${key}`, message: 'unknown field; the award policy takes explore, minReputation and preferredAgents' })
  if (explore !== undefined && parseExplore(explore) === undefined) {
    problems.push({ path: `${prefix}.explore`, message: `${JSON.stringify(explore)} is not on or off; write off (or false) to award by reputation mean only, on (or true) to explore` })
  }
  if (minReputation !== undefined && (typeof minReputation !== 'number' || !(minReputation >= 0 && minReputation <= 1))) {
    problems.push({ path: `${prefix}.minReputation`, message: `${JSON.stringify(minReputation)} is not a success rate; write a number from 0 to 1 such as 0.8` })
  }
  if (preferredAgents !== undefined) {
    if (!Array.isArray(preferredAgents)) {
      problems.push({ path: `${prefix}.preferredAgents`, message: 'must be a list of peer ids such as ["12D3KooW…"]' })
    } else {
      if (preferredAgents.length > MAX_PREFERRED_AGENTS) problems.push({ path: `${prefix}.preferredAgents`, message: `names ${preferredAgents.length} agents; at most ${MAX_PREFERRED_AGENTS}` })
      preferredAgents.forEach((peer, i) => {
        if (typeof peer !== 'string' || !isCanonicalPeerId(peer)) {
          problems.push({ path: `${prefix}.preferredAgents[${i}]`, message: `${JSON.stringify(peer)} is not a peer id; copy it from \`specmesh reputation\` or \`specmesh peers\` (12D3KooW…)` })
        }
      })
    }
  }
  return problems
}

/** The checked policy (call after `awardPolicyProblems` found none). */
export function normalizeAwardPolicy (raw: unknown): AwardPolicy | undefined {
  if (raw == null) return undefined
  const { explore, minReputation, preferredAgents } = raw as Record<string, unknown>
  const policy: AwardPolicy = {}
  const e = parseExplore(explore)
  if (e !== undefined) policy.explore = e
  if (typeof minReputation === 'number') policy.minReputation = minReputation
  if (Array.isArray(preferredAgents)) policy.preferredAgents = [...new Set(preferredAgents as string[])]
  return policy
}
