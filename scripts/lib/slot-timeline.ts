/**
 * Where an agent's idle slot time goes (bench:cascade). Collects, on one wall
 * clock, when each execution starts and ends at the agent, and the steps of the
 * job that filled each freed slot: the agent's advert after the slot freed, its
 * arrival at that job's coordinator, the job's publication, its first bid, the
 * award, the award's arrival at the agent. `report()` gives the agent's busy
 * fraction on the wall clock and, for every slot that freed while work was
 * waiting somewhere, the gap until the next execution started, split into those
 * steps.
 */
import { summarize, round } from './bench.ts'

type CoordinatorStep = 'waiting' | 'published' | 'firstBid' | 'awarded'
type AgentStep = 'bid' | 'awardArrived'

interface JobSteps {
  coordinator?: number
  waiting?: number
  published?: number
  firstBid?: number
  awarded?: number
  bid?: number
  awardArrived?: number
}

/** The parts of a gap, in the order a freed slot is refilled through a new auction. */
export const GAP_PARTS = ['queued', 'advert', 'wakeAndPublish', 'bid', 'bidWindow', 'awardTravel', 'admission'] as const
export type GapPart = typeof GAP_PARTS[number]

export interface SlotReport {
  /** Slot-time busy over wall time, from the first start to the last end. */
  busyFraction: number
  /** Slots freed while some job was waiting (submitted, not ended, not executing). */
  freedWhileWaiting: number
  /** Of those, slots taken again by an award already queued at the agent. */
  refilledFromQueue: number
  gapMs: { p50: number, p99: number, mean: number }
  /** Idle slot-ms after a slot freed while work waited, summed over the run. */
  idleSlotMs: number
  /** Where that idle time went: ms per part, summed over the gaps. */
  breakdownMs: Record<GapPart, number>
  /** Frees never followed by a start while work waited (the run ended). */
  unfilled: number
  /** Adverts the agent sent, and how many reached each coordinator on average. */
  adverts: number
  /** Mean ms from an advert's issue to its arrival at a coordinator. */
  advertLatencyMs: number
}

export class SlotTimeline {
  private readonly cores: number
  private readonly starts: Array<{ jobId: string, at: number }> = []
  private readonly ends: Array<{ jobId: string, at: number }> = []
  private readonly steps = new Map<string, JobSteps>()
  private readonly advertsIssued: number[] = []
  /** Per coordinator: arrival times of adverts, in order, with their issue time. */
  private readonly advertArrivals = new Map<number, Array<{ issuedAt: number, at: number }>>()
  /** [submittedAt, finishedAt] of every logical job. */
  private readonly lifetimes: Array<[number, number]> = []

  constructor (cores: number) {
    this.cores = cores
  }

  started (jobId: string, at = Date.now()): void { this.starts.push({ jobId, at }) }
  ended (jobId: string, at = Date.now()): void { this.ends.push({ jobId, at }) }
  advertIssued (at: number): void { this.advertsIssued.push(at) }
  advertArrived (coordinator: number, issuedAt: number, at = Date.now()): void {
    let list = this.advertArrivals.get(coordinator)
    if (list == null) this.advertArrivals.set(coordinator, list = [])
    list.push({ issuedAt, at })
  }

  coordinatorStep (coordinator: number, jobId: string, step: CoordinatorStep, at = Date.now()): void {
    const steps = this.stepsOf(jobId)
    steps.coordinator = coordinator
    steps[step] ??= at
  }

  agentStep (jobId: string, step: AgentStep, at = Date.now()): void {
    this.stepsOf(jobId)[step] ??= at
  }

  lifetime (submittedAt: number, finishedAt: number): void { this.lifetimes.push([submittedAt, finishedAt]) }

  private stepsOf (jobId: string): JobSteps {
    let steps = this.steps.get(jobId)
    if (steps == null) this.steps.set(jobId, steps = {})
    return steps
  }

  /** Jobs submitted and not yet ended at `at`, less those executing: work waiting somewhere. */
  private waitingAt (at: number, running: number): number {
    let alive = 0
    for (const [from, to] of this.lifetimes) if (from <= at && at < to) alive++
    return alive - running
  }

  /** The steps of the first `n` jobs to start, in ms after `origin` (to see the ramp). */
  firstStarts (n: number, origin: number): Array<Record<string, number | undefined>> {
    return [...this.starts].sort((a, b) => a.at - b.at).slice(0, n).map(({ jobId, at }) => {
      const s = this.steps.get(jobId) ?? {}
      const rel = (t?: number): number | undefined => t == null ? undefined : t - origin
      return { waiting: rel(s.waiting), published: rel(s.published), firstBid: rel(s.firstBid), awarded: rel(s.awarded), awardArrived: rel(s.awardArrived), started: at - origin }
    })
  }

  report (): SlotReport {
    const events = [
      ...this.starts.map(e => ({ ...e, kind: 'start' as const })),
      ...this.ends.map(e => ({ ...e, kind: 'end' as const }))
    ].sort((a, b) => a.at - b.at || (a.kind === 'end' ? -1 : 1))
    const breakdownMs = Object.fromEntries(GAP_PARTS.map(p => [p, 0])) as Record<GapPart, number>
    const gaps: number[] = []
    let running = 0
    let busySlotMs = 0
    let last = events[0]?.at ?? 0
    /** Slots freed while work waited, oldest first, not yet taken again. */
    const free: number[] = []
    let freedWhileWaiting = 0
    let refilledFromQueue = 0
    for (const event of events) {
      busySlotMs += Math.min(running, this.cores) * (event.at - last)
      last = event.at
      if (event.kind === 'end') {
        running--
        if (running < this.cores && this.waitingAt(event.at, running) > 0) {
          free.push(event.at)
          freedWhileWaiting++
        }
        continue
      }
      running++
      const freedAt = free.shift()
      if (freedAt == null) continue
      const gap = event.at - freedAt
      gaps.push(gap)
      const parts = this.split(event.jobId, freedAt, event.at)
      if (parts.queued > 0 || gap <= 1) refilledFromQueue++
      for (const part of GAP_PARTS) breakdownMs[part] += parts[part]
    }
    const first = this.starts.reduce((m, s) => Math.min(m, s.at), Infinity)
    const lastEnd = this.ends.reduce((m, e) => Math.max(m, e.at), 0)
    const arrivals = [...this.advertArrivals.values()].flat()
    return {
      busyFraction: round(busySlotMs / Math.max(1, this.cores * (lastEnd - first)), 3),
      freedWhileWaiting,
      refilledFromQueue,
      gapMs: { ...summarize(gaps), mean: round(gaps.reduce((a, b) => a + b, 0) / Math.max(1, gaps.length)) },
      idleSlotMs: Math.round(gaps.reduce((a, b) => a + b, 0)),
      breakdownMs: Object.fromEntries(GAP_PARTS.map(p => [p, Math.round(breakdownMs[p])])) as Record<GapPart, number>,
      unfilled: free.length,
      adverts: this.advertsIssued.length,
      advertLatencyMs: round(arrivals.reduce((a, b) => a + b.at - b.issuedAt, 0) / Math.max(1, arrivals.length))
    }
  }

  /**
   * The gap [freedAt, startedAt] of the job that took the slot, cut at its steps.
   * A job whose award reached the agent before the slot freed was queued: the
   * whole gap (the slot handover) is 'queued'. Otherwise each step's share is the
   * part of the gap between the previous step and it; steps taken before the
   * slot freed take no share.
   */
  private split (jobId: string, freedAt: number, startedAt: number): Record<GapPart, number> {
    const parts = Object.fromEntries(GAP_PARTS.map(p => [p, 0])) as Record<GapPart, number>
    const s = this.steps.get(jobId) ?? {}
    if (s.awardArrived != null && s.awardArrived <= freedAt) {
      parts.queued = startedAt - freedAt
      return parts
    }
    // The first advert the job's coordinator received that was issued after the slot freed.
    const advertAt = s.coordinator == null
      ? undefined
      : this.advertArrivals.get(s.coordinator)?.find(a => a.issuedAt >= freedAt)?.at
    const marks: Array<[GapPart, number | undefined]> = [
      ['advert', advertAt != null && s.published != null && s.published > freedAt && advertAt <= s.published ? advertAt : undefined],
      ['wakeAndPublish', s.published],
      ['bid', s.firstBid],
      ['bidWindow', s.awarded],
      ['awardTravel', s.awardArrived],
      ['admission', startedAt]
    ]
    let from = freedAt
    for (const [part, at] of marks) {
      if (at == null) continue
      const to = Math.min(Math.max(at, from), startedAt)
      parts[part] += to - from
      from = to
    }
    return parts
  }
}
