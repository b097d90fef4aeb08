import type { BatchOperation, Db } from './db.ts'

interface Waiter {
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * Group commit: every write asked for in one turn of the event loop goes to
 * LevelDB as one batch. A coordinator with 64 jobs in flight writes each job's
 * record three times (created, awarded, receipted), with its receipt and
 * ledger; one native batch per write cost more than the rest of the job's
 * bookkeeping together (bench:jobs' coordinator profile, lease path).
 *
 * Each write's operations still land together, and never before an earlier
 * write's: batches are written one after another, each with everything asked
 * for while the one before was being written, so a crash keeps either all of a
 * write or none of it. A put's value is encoded when the write is asked for,
 * so a record changed afterwards (the caller goes on with it) is stored as it
 * was. A key put twice in one batch is written once, with its last value.
 */
export class GroupCommit {
  private readonly db: Db
  private ops: BatchOperation[] = []
  /** Position in `ops` of each key put or deleted in the batch being gathered, by sublevel. */
  private where = new Map<unknown, Map<string, number>>()
  private waiters: Waiter[] = []
  private writing = false
  private scheduled = false

  constructor (db: Db) {
    this.db = db
  }

  /** Write `operations` atomically, in the next batch; resolves once that batch is on disk. */
  async write (operations: BatchOperation[]): Promise<void> {
    for (const op of operations) this.add(op)
    const landed = new Promise<void>((resolve, reject) => { this.waiters.push({ resolve, reject }) })
    this.schedule()
    await landed
  }

  private add (op: BatchOperation): void {
    const scope = (op as { sublevel?: Db }).sublevel ?? this.db
    // Encoded now, as the store's json encoding would (same bytes), so later changes to the value are not written.
    const encoded: BatchOperation = op.type === 'put' && op.valueEncoding == null && scope.valueEncoding().name === 'json'
      ? { ...op, value: JSON.stringify(op.value), valueEncoding: 'utf8' } as BatchOperation
      : op
    let keys = this.where.get(scope)
    if (keys == null) {
      keys = new Map()
      this.where.set(scope, keys)
    }
    const key = op.key as string
    const at = keys.get(key)
    if (at != null) {
      this.ops[at] = encoded
      return
    }
    keys.set(key, this.ops.length)
    this.ops.push(encoded)
  }

  private schedule (): void {
    if (this.scheduled || this.writing) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.flush()
    })
  }

  private flush (): void {
    if (this.writing || this.waiters.length === 0) return
    const ops = this.ops
    const waiters = this.waiters
    this.ops = []
    this.where = new Map()
    this.waiters = []
    this.writing = true
    this.db.batch(ops).then(
      () => { for (const w of waiters) w.resolve() },
      (err: Error) => { for (const w of waiters) w.reject(err) }
    ).finally(() => {
      this.writing = false
      // What was asked for meanwhile goes next, in one batch.
      if (this.waiters.length > 0) this.schedule()
    })
  }
}
