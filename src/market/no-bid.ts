import { LATE_BID_MEMORY_MS } from './late-bids.ts'
import type { ProviderLookup } from '../net/spec-discovery.ts'

/**
 * Why a job got no bid, told from what the coordinator can see: its peers,
 * the capacity adverts of the agents serving the spec (their price and room)
 * and whether bids on the spec have been coming back late.
 * Each cause has its own message naming the fix.
 */

export const NO_BID_CAUSES = ['no-peers', 'no-agent-serving', 'over-ceiling', 'max-usd-below-prices', 'all-busy', 'late', 'not-connected', 'declined'] as const
export type NoBidCause = typeof NO_BID_CAUSES[number]

export interface AdvertisedAgent {
  agent: string
  priceUsd: number
  /** Awards it can take now, as far as the coordinator can tell. */
  room: number
  /**
   * Whether this node had a connection to it when the job failed. An agent with none can
   * have had neither the job call nor a way to send its bid straight back (a bid stream
   * needs one; gossip needs a path of the spec's parties): its bid was lost, not declined.
   * Absent in records written before it was told.
   */
  connected?: boolean
}

export interface NoBidFacts {
  /** Peers this node is connected to. */
  peers: number
  /** Agents with a live capacity advert for the spec. */
  agents: AdvertisedAgent[]
  /** The job's ceiling per attempt (its maxUsd). */
  ceilingUsd: number
  /** The spec's budget.maxUsd, when it has one. */
  budgetUsd?: number
  bidWindowMs: number
  /** Windows waited beyond the first for a late bid. */
  graceWindows: number
  /** Bids on this node's recent jobs of the spec that came back after their window (late-bids.ts). */
  lateBids?: number
  /** This node's latest lookup of the spec's providers in the DHT, when it made one (spec-discovery.ts). */
  providerLookup?: ProviderLookup
}

/** Part of a job record: which case a no-bid failure is, and the figures behind it. */
export interface NoBidDiagnosis {
  cause: NoBidCause
  peers: number
  agents: AdvertisedAgent[]
  ceilingUsd: number
  budgetUsd?: number
}

const usd = (n: number): string => `${Number(n.toFixed(6))} USD`
const count = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`
const priceRange = (prices: number[]): string => {
  const low = Math.min(...prices)
  const high = Math.max(...prices)
  return low === high ? usd(low) : `${usd(low)} to ${usd(high)}`
}

/**
 * What the DHT said of the spec's providers, for a job that met no agent: none
 * listed (an agent that began serving seconds ago may not be listed yet), or
 * some that never advertised to us (unreachable, or gone).
 */
function lookupSaid (lookup: ProviderLookup | undefined): string {
  if (lookup == null) return ''
  const ago = `${Math.max(0, Math.round(lookup.agoMs / 100) / 10)} s ago`
  if (lookup.found === 0) {
    return `; this node's lookup of the spec's providers in the DHT (${ago}) found none: an agent that began serving it in the last seconds may not be listed yet, so submit again shortly if one has`
  }
  return `; the DHT lists ${count(lookup.found, 'provider')} of it (this node's lookup ${ago}, ${lookup.dialled} newly dialled), but none sent this node a capacity advert: check that ${lookup.found === 1 ? 'it is' : 'they are'} still serving and reachable (\`specmesh spec agents SPEC_ID\`)`
}

export function diagnoseNoBid (facts: NoBidFacts): { diagnosis: NoBidDiagnosis, reason: string } {
  const { peers, agents, ceilingUsd, budgetUsd } = facts
  const diagnosis = (cause: NoBidCause): NoBidDiagnosis => ({ cause, peers, agents, ceilingUsd, ...(budgetUsd != null ? { budgetUsd } : {}) })
  const window = `within the ${facts.bidWindowMs} ms bid window (nor in ${facts.graceWindows} windows more)`
  if (peers === 0) {
    return {
      diagnosis: diagnosis('no-peers'),
      reason: `no agent bid: this node is connected to no peer; start the daemon with --bootstrap MULTIADDR of a node of the mesh, or start an agent bootstrapped to this one`
    }
  }
  if (agents.length === 0) {
    return {
      diagnosis: diagnosis('no-agent-serving'),
      reason: `no agent bid: no agent serving this spec is connected (${count(peers, 'peer')}, none advertising it)${lookupSaid(facts.providerLookup)}; start one with \`specmesh agent --spec SPEC_ID --exec COMMAND --bootstrap …\``
    }
  }
  const affordable = agents.filter(a => a.priceUsd <= ceilingUsd)
  if (affordable.length === 0) {
    const prices = agents.map(a => a.priceUsd)
    const cheapest = Math.min(...prices)
    const serve = `${count(agents.length, 'agent')} ${agents.length === 1 ? 'serves' : 'serve'} this spec, asking ${priceRange(prices)}`
    if (budgetUsd != null && cheapest <= budgetUsd + 1e-12) {
      // The requester's own --max-usd is what keeps them out: the spec's budget would allow it.
      return {
        diagnosis: diagnosis('max-usd-below-prices'),
        reason: `no agent bid: ${serve}, above this job's ceiling ${usd(ceilingUsd)} (its --max-usd): raise --max-usd to at least ${usd(cheapest)} (the spec's budget allows up to ${usd(budgetUsd)})`
      }
    }
    return {
      diagnosis: diagnosis('over-ceiling'),
      reason: `no agent bid: ${serve}, ${agents.length === 1 ? '' : 'all '}above this job's ceiling ${usd(ceilingUsd)}: ` +
        (budgetUsd != null
          ? `the spec's budget.maxUsd is ${usd(budgetUsd)}; fork the spec with a budget of at least ${usd(cheapest)} (specmesh spec fork ID --set budget.maxUsd=${cheapest}), or find an agent that asks less`
          : `raise --max-usd to at least ${usd(cheapest)}`)
    }
  }
  if (affordable.every(a => a.room === 0)) {
    return {
      diagnosis: diagnosis('all-busy'),
      reason: `no agent bid: ${count(affordable.length, 'agent')} serving this spec within the ceiling ${affordable.length === 1 ? 'is' : 'are all'} busy (at ${affordable.length === 1 ? 'its' : 'their'} concurrency limit); submit again later, or give the spec more agents`
    }
  }
  if ((facts.lateBids ?? 0) > 0) {
    // Agents that bid, only too late, did not decline: the window is too short for how busy this node or the mesh is.
    return {
      diagnosis: diagnosis('late'),
      reason: `no agent bid ${window}: ${count(affordable.length, 'agent')} ${affordable.length === 1 ? 'serves' : 'serve'} this spec within the ceiling and ${affordable.length === 1 ? 'has' : 'have'} room, but bids are coming back late (${count(facts.lateBids!, 'bid')} on this node's jobs of the spec came after their window in the last ${LATE_BID_MEMORY_MS / 1000} s): this node or the mesh is too busy for the window; submit fewer jobs at once, or give a longer --bid-window-ms`
    }
  }
  const reachable = affordable.filter(a => a.room > 0 && a.connected !== false)
  if (reachable.length === 0) {
    // The adverts came through other peers; without a connection the call or the bids were lost on the way.
    const n = affordable.filter(a => a.room > 0).length
    return {
      diagnosis: diagnosis('not-connected'),
      reason: `no agent bid ${window}: ${count(n, 'agent')} ${n === 1 ? 'serves' : 'serve'} this spec within the ceiling and ${n === 1 ? 'has' : 'have'} room, but ${n === 1 ? 'it is' : 'none is'} connected to this node (${n === 1 ? 'its advert' : 'their adverts'} came through other peers), so the job call or the bids were lost on the way, not declined: check that this node can dial ${n === 1 ? 'it' : 'them'} (\`specmesh peers\`; start the daemon with --bootstrap MULTIADDR of an agent), or submit again once ${n === 1 ? 'it reconnects' : 'they reconnect'}`
    }
  }
  return {
    diagnosis: diagnosis('declined'),
    reason: `no agent bid ${window}: ${count(reachable.length, 'agent')} connected to this node ${reachable.length === 1 ? 'serves' : 'serve'} this spec within the ceiling and ${reachable.length === 1 ? 'has' : 'have'} room, but sent no bid although connected, so ${reachable.length === 1 ? 'it' : 'they'} most likely declined: the deadline may be too close for ${reachable.length === 1 ? 'its' : 'their'} estimate (--deadline), the soft deadline may have passed, or the bid window is too short for this mesh (--bid-window-ms); the agent's log says which (agent.no-bid)`
  }
}
