import type { Outcome } from '../market/messages.ts'
import type { NoBidDiagnosis } from '../market/no-bid.ts'
import { sublevel, values, type BatchOperation, type Db, type Sublevel } from './db.ts'
import { GroupCommit } from './group-commit.ts'

export const JOB_STATUSES = ['bidding', 'running', 'succeeded', 'failed', 'cancelled'] as const
export type JobStatus = typeof JOB_STATUSES[number]

export interface AttemptRecord {
  attempt: number
  agent: string
  bidId: string
  awardId: string
  priceUsd: number
  /** The lease the attempt ran under (then bidId names it too and awardId is a lease-award). */
  leaseId?: string
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
  /** How long bids were collected before the first award. */
  biddingMs?: number
  /** Receipt id of the successful attempt. */
  receiptId?: string
  /** When the job failed because nobody bid: which case, with the figures behind it. */
  noBid?: NoBidDiagnosis
}

/**
 * Job records plus the input and output payloads of the jobs this node
 * coordinated, kept apart so that listing jobs never loads megabytes of payload.
 * Writes go through a group commit (group-commit.ts): the writes of every job
 * in one turn of the event loop are one LevelDB batch.
 */
export class JobStore {
  private readonly commit: GroupCommit
  private readonly jobs: Sublevel
  private readonly payloads: Sublevel

  /** `commit`: shared with the node's other per-job writes (job events), so they go in the same batches. */
  constructor (db: Db, commit: GroupCommit = new GroupCommit(db)) {
    this.commit = commit
    this.jobs = sublevel(db, 'jobs')
    this.payloads = sublevel(db, 'job-payloads')
  }

  async get (jobId: string): Promise<JobRecord | null> {
    return (await this.jobs.get(jobId) as JobRecord | undefined) ?? null
  }

  /** Store the record together with its input, atomically. */
  async create (record: JobRecord, input: unknown): Promise<void> {
    await this.commit.write([
      { type: 'put', sublevel: this.jobs, key: record.jobId, value: record },
      { type: 'put', sublevel: this.payloads, key: `${record.jobId}!input`, value: input }
    ])
  }

  /**
   * Store the record, the accepted output if any, and `with` (e.g. the attempt's
   * receipt) in one batch: after a crash either all of them are there or none.
   */
  async save (record: JobRecord, options: { output?: unknown, with?: BatchOperation[] } = {}): Promise<void> {
    const ops: BatchOperation[] = [...(options.with ?? []), { type: 'put', sublevel: this.jobs, key: record.jobId, value: record }]
    if (options.output !== undefined) ops.push({ type: 'put', sublevel: this.payloads, key: `${record.jobId}!output`, value: options.output })
    await this.commit.write(ops)
  }

  async input (jobId: string): Promise<unknown> {
    return await this.payloads.get(`${jobId}!input`)
  }

  async output (jobId: string): Promise<unknown> {
    return await this.payloads.get(`${jobId}!output`)
  }

  /** Job ids starting with `prefix`, in order, at most `limit`. */
  async idsWithPrefix (prefix: string, limit: number): Promise<string[]> {
    return await this.jobs.keys({ gte: prefix, lt: `${prefix}\xff`, limit }).all() as string[]
  }

  async list (): Promise<JobRecord[]> {
    return (await values<JobRecord>(this.jobs)).sort((a, b) => a.submittedAt - b.submittedAt)
  }
}
