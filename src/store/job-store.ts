import type { Outcome } from '../market/messages.ts'
import { sublevel, values, type Db, type Sublevel } from './db.ts'

export type JobStatus = 'bidding' | 'running' | 'succeeded' | 'failed'

export interface AttemptRecord {
  attempt: number
  agent: string
  bidId: string
  awardId: string
  priceUsd: number
  outcome?: Outcome
  reason?: string
  receiptId?: string
  startedAt?: number
  endedAt?: number
}

/** What this node, as coordinator, knows of one job it submitted. */
export interface JobRecord {
  jobId: string
  specId: string
  specName: string
  status: JobStatus
  /** Why the job failed, or ended the way it did, in words a person understands. */
  reason?: string
  submittedAt: number
  finishedAt?: number
  deadline: number
  softDeadline?: number
  maxUsd: number
  inputHash: string
  costUsd: number
  attempts: AttemptRecord[]
  /** Receipt id of the successful attempt. */
  receiptId?: string
}

/**
 * Job records plus the input and output payloads of the jobs this node
 * coordinated, kept apart so that listing jobs never loads megabytes of payload.
 */
export class JobStore {
  private readonly db: Db
  private readonly jobs: Sublevel
  private readonly payloads: Sublevel

  constructor (db: Db) {
    this.db = db
    this.jobs = sublevel(db, 'jobs')
    this.payloads = sublevel(db, 'job-payloads')
  }

  async get (jobId: string): Promise<JobRecord | null> {
    return (await this.jobs.get(jobId) as JobRecord | undefined) ?? null
  }

  async put (record: JobRecord): Promise<void> {
    await this.jobs.put(record.jobId, record)
  }

  /** Store the record together with its input, atomically. */
  async create (record: JobRecord, input: unknown): Promise<void> {
    await this.db.batch([
      { type: 'put', sublevel: this.jobs, key: record.jobId, value: record },
      { type: 'put', sublevel: this.payloads, key: `${record.jobId}!input`, value: input }
    ])
  }

  /** Store the final record together with the accepted output, atomically. */
  async finish (record: JobRecord, output?: unknown): Promise<void> {
    const ops = [{ type: 'put' as const, sublevel: this.jobs, key: record.jobId, value: record as unknown }]
    if (output !== undefined) ops.push({ type: 'put' as const, sublevel: this.payloads, key: `${record.jobId}!output`, value: output })
    await this.db.batch(ops)
  }

  async input (jobId: string): Promise<unknown> {
    return await this.payloads.get(`${jobId}!input`)
  }

  async output (jobId: string): Promise<unknown> {
    return await this.payloads.get(`${jobId}!output`)
  }

  async list (): Promise<JobRecord[]> {
    return (await values<JobRecord>(this.jobs)).sort((a, b) => a.submittedAt - b.submittedAt)
  }
}
