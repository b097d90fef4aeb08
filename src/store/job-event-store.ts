import { sublevel, values, type Db, type Sublevel } from './db.ts'
import type { GroupCommit } from './group-commit.ts'

export const JOB_EVENT_TYPES = [
  'submitted', 'waiting-capacity', 'bid', 'award', 'attempt-started', 'attempt-ended', 'backoff', 'receipt', 'done'
] as const
export type JobEventType = typeof JOB_EVENT_TYPES[number]

/**
 * One step of a job this node coordinates, as `jobEvents()`, the node's
 * 'job-event' and `GET /v1/jobs/:id/events` report it. `seq` counts from 1 per
 * job, so a follower that saw seq n asks for what comes after n.
 */
export interface JobEvent {
  seq: number
  jobId: string
  type: JobEventType
  /** Epoch ms. */
  at: number
  data: Record<string, unknown>
}

/** Keys sort by job, then by sequence number (zero-padded so text order is number order). */
const key = (jobId: string, seq: number): string => `${jobId}!${String(seq).padStart(10, '0')}`

/**
 * What one key holds: the events of one job appended together (one write),
 * under the seq of the first; or one event alone, as every key did before
 * events were stored together (a data folder written then still reads).
 */
type Stored = JobEvent | JobEvent[]

const eventsOf = (stored: Stored): JobEvent[] => Array.isArray(stored) ? stored : [stored]

/**
 * The job events this node recorded, in LevelDB, so a stream can resume after
 * a restart. The events of one job that one append carries (a job's award and
 * its attempt's start, its receipt and its end: the steps of one event-loop
 * turn) go under one key: each key put cost the coordinator more than
 * encoding the event, six of them per leased job.
 */
export class JobEventStore {
  private readonly db: Db
  private readonly events: Sublevel
  private readonly commit: GroupCommit | undefined

  /** `commit`: batch the events with the job records' writes (JobStore's group commit). */
  constructor (db: Db, commit?: GroupCommit) {
    this.db = db
    this.events = sublevel(db, 'job-events')
    this.commit = commit
  }

  /** Store events, in the order given; each job's seqs must come in order, as JobEventLog hands them out. */
  async append (events: JobEvent[]): Promise<void> {
    if (events.length === 0) return
    const byJob = new Map<string, JobEvent[]>()
    for (const e of events) {
      const same = byJob.get(e.jobId)
      if (same == null) byJob.set(e.jobId, [e])
      else same.push(e)
    }
    const ops = [...byJob.values()].map(same => ({ type: 'put' as const, sublevel: this.events, key: key(same[0]!.jobId, same[0]!.seq), value: same.length === 1 ? same[0] : same }))
    if (this.commit != null) await this.commit.write(ops)
    else await this.db.batch(ops)
  }

  /** The job's events with seq > afterSeq, in order. */
  async list (jobId: string, afterSeq = 0): Promise<JobEvent[]> {
    // A key holds the events from its seq on: the one before afterSeq + 1 may hold some after it.
    const stored = await values<Stored>(this.events, { gte: `${jobId}!`, lt: `${jobId}!~` })
    return stored.flatMap(eventsOf).filter(e => e.seq > afterSeq)
  }

  /** The highest seq stored for the job, 0 when none. */
  async lastSeq (jobId: string): Promise<number> {
    const last = await this.events.values({ gte: `${jobId}!`, lt: `${jobId}!~`, reverse: true, limit: 1 }).all() as Stored[]
    return last[0] != null ? eventsOf(last[0]).at(-1)!.seq : 0
  }
}
