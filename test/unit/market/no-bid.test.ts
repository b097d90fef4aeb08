import { describe, expect, it } from 'vitest'
import { diagnoseNoBid, type NoBidFacts } from '../../../src/market/no-bid.ts'
import { LATE_BID_MEMORY_MS, LateBids, MAX_REMEMBERED } from '../../../src/market/late-bids.ts'

const base: NoBidFacts = { peers: 3, agents: [], ceilingUsd: 0.5, budgetUsd: 0.5, bidWindowMs: 100, graceWindows: 4 }
const agent = (priceUsd: number, room = 2, name = `a${priceUsd}`) => ({ agent: name, priceUsd, room })

describe('why nobody bid', () => {
  it('no peers at all', () => {
    const { diagnosis, reason } = diagnoseNoBid({ ...base, peers: 0 })
    expect(diagnosis.cause).toBe('no-peers')
    expect(reason).toMatch(/connected to no peer; start the daemon with --bootstrap/)
  })

  it('peers, none advertising the spec', () => {
    const { diagnosis, reason } = diagnoseNoBid(base)
    expect(diagnosis.cause).toBe('no-agent-serving')
    expect(reason).toContain('no agent serving this spec is connected (3 peers, none advertising it)')
    expect(reason).not.toContain('DHT')
  })

  it('and what the DHT said of its providers: none listed yet, or listed ones that never advertised', () => {
    const none = diagnoseNoBid({ ...base, providerLookup: { agoMs: 1_240, found: 0, dialled: 0 } }).reason
    expect(none).toContain("none advertising it); this node's lookup of the spec's providers in the DHT (1.2 s ago) found none: an agent that began serving it in the last seconds may not be listed yet, so submit again shortly if one has; start one with `specmesh agent")
    const gone = diagnoseNoBid({ ...base, providerLookup: { agoMs: 300, found: 2, dialled: 0 } })
    expect(gone.diagnosis.cause).toBe('no-agent-serving')
    expect(gone.reason).toContain('the DHT lists 2 providers of it (this node\'s lookup 0.3 s ago, 0 newly dialled), but none sent this node a capacity advert: check that they are still serving and reachable (`specmesh spec agents SPEC_ID`)')
    expect(diagnoseNoBid({ ...base, providerLookup: { agoMs: 0, found: 1, dialled: 1 } }).reason).toContain('check that it is still serving')
  })

  it('the only agent asks more than the spec allows: the price, the ceiling and how to raise the budget', () => {
    const { diagnosis, reason } = diagnoseNoBid({ ...base, agents: [agent(0.9)] })
    expect(diagnosis).toMatchObject({ cause: 'over-ceiling', ceilingUsd: 0.5, budgetUsd: 0.5 })
    expect(reason).toContain("1 agent serves this spec, asking 0.9 USD, above this job's ceiling 0.5 USD")
    expect(reason).toContain('--set budget.maxUsd=0.9')
  })

  it('without a budget the fix is --max-usd', () => {
    const { diagnosis, reason } = diagnoseNoBid({ ...base, budgetUsd: undefined, ceilingUsd: 0.1, agents: [agent(0.3), agent(0.2)] })
    expect(diagnosis.cause).toBe('over-ceiling')
    expect(reason).toContain("2 agents serve this spec, asking 0.2 USD to 0.3 USD, all above this job's ceiling 0.1 USD: raise --max-usd to at least 0.2 USD")
  })

  it('--max-usd below every price the budget would allow', () => {
    const { diagnosis, reason } = diagnoseNoBid({ ...base, ceilingUsd: 0.1, agents: [agent(0.2), agent(0.9)] })
    expect(diagnosis.cause).toBe('max-usd-below-prices')
    expect(reason).toContain('raise --max-usd to at least 0.2 USD (the spec\'s budget allows up to 0.5 USD)')
  })

  it('every agent within the ceiling is busy', () => {
    const { diagnosis, reason } = diagnoseNoBid({ ...base, agents: [agent(0.2, 0), agent(0.9, 3)] })
    expect(diagnosis.cause).toBe('all-busy')
    expect(reason).toMatch(/1 agent serving this spec within the ceiling is busy/)
  })

  it('agents with room and price declined: the deadline, soft deadline or window', () => {
    const { diagnosis, reason } = diagnoseNoBid({ ...base, agents: [agent(0.2)] })
    expect(diagnosis.cause).toBe('declined')
    expect(reason).toMatch(/within the 100 ms bid window \(nor in 4 windows more\).*declined/)
  })

  it('agents with room and price, none connected to this node: the call or the bids were lost, not declined', () => {
    const { diagnosis, reason } = diagnoseNoBid({ ...base, agents: [{ ...agent(0.2), connected: false }, { ...agent(0.3), connected: false }, { ...agent(0.1, 0), connected: true }] })
    expect(diagnosis.cause).toBe('not-connected')
    expect(reason).toMatch(/^no agent bid within the 100 ms bid window \(nor in 4 windows more\): 2 agents serve this spec within the ceiling and have room, but none is connected to this node \(their adverts came through other peers\), so the job call or the bids were lost on the way, not declined: check that this node can dial them \(`specmesh peers`; start the daemon with --bootstrap MULTIADDR of an agent\)/)
    // One of them connected: it had the call and a way back, so it declined.
    const one = diagnoseNoBid({ ...base, agents: [{ ...agent(0.2), connected: false }, { ...agent(0.3), connected: true }] })
    expect(one.diagnosis.cause).toBe('declined')
    expect(one.reason).toContain('1 agent connected to this node serves this spec within the ceiling and has room, but sent no bid although connected, so it most likely declined')
  })

  it('agents with room and price whose bids have been coming back late: the window, not a refusal', () => {
    const { diagnosis, reason } = diagnoseNoBid({ ...base, agents: [agent(0.2), agent(0.3)], lateBids: 7 })
    expect(diagnosis.cause).toBe('late')
    expect(reason).toMatch(/^no agent bid within the 100 ms bid window \(nor in 4 windows more\): 2 agents serve this spec within the ceiling and have room, but bids are coming back late \(7 bids on this node's jobs of the spec came after their window in the last 30 s\).*--bid-window-ms$/)
    // Busy agents are still told as busy: a late bid does not make room.
    expect(diagnoseNoBid({ ...base, agents: [agent(0.2, 0)], lateBids: 7 }).diagnosis.cause).toBe('all-busy')
  })
})

describe('late bids', () => {
  it('counts first bids after the window and bids on auctions closed without one, per spec, for 30 s', () => {
    let now = 0
    const late = new LateBids(() => now)
    expect(late.recent('s')).toBe(0)
    late.firstBidLate('s')
    // A bid for a job never closed empty (an auction that ended with an award, or someone else's job) is not late evidence.
    expect(late.bidAfterClose('job-1')).toBe(false)
    late.closedWithoutBid('job-1', 's')
    now += 1_000
    expect(late.bidAfterClose('job-1')).toBe(true)
    expect(late.recent('s')).toBe(2)
    expect(late.recent('other')).toBe(0)
    now += LATE_BID_MEMORY_MS - 500
    expect(late.recent('s')).toBe(1)
    now += 1_000
    expect(late.recent('s')).toBe(0)
  })

  it('remembers at most MAX_REMEMBERED closed jobs in all and late bids per spec, forgetting the oldest first', () => {
    const late = new LateBids(() => 0)
    for (let i = 0; i <= MAX_REMEMBERED; i++) late.closedWithoutBid(`job-${i}`, 's')
    // One past the limit: the first job closed is forgotten, so a bid for it is no longer late evidence.
    expect(late.bidAfterClose('job-0')).toBe(false)
    expect(late.bidAfterClose('job-1')).toBe(true)
    expect(late.bidAfterClose(`job-${MAX_REMEMBERED}`)).toBe(true)
    for (let i = 0; i < MAX_REMEMBERED + 10; i++) late.firstBidLate('s')
    expect(late.recent('s')).toBe(MAX_REMEMBERED)
  })
})
