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

/** The job events this node recorded, in LevelDB, so a stream can resume after a restart. */
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

  async append (events: JobEvent[]): Promise<void> {
    if (events.length === 0) return
    const ops = events.map(e => ({ type: 'put' as const, sublevel: this.events, key: key(e.jobId, e.seq), value: e }))
    if (this.commit != null) await this.commit.write(ops)
    else await this.db.batch(ops)
  }

  /** The job's events with seq > afterSeq, in order. */
  async list (jobId: string, afterSeq = 0): Promise<JobEvent[]> {
    return await values<JobEvent>(this.events, { gte: key(jobId, afterSeq + 1), lt: `${jobId}!~` })
  }

  /** The highest seq stored for the job, 0 when none. */
  async lastSeq (jobId: string): Promise<number> {
    const last = await this.events.values({ gte: `${jobId}!`, lt: `${jobId}!~`, reverse: true, limit: 1 }).all() as JobEvent[]
    return last[0]?.seq ?? 0
  }
}
