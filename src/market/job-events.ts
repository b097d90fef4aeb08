import { EventEmitter } from 'node:events'
import type { JobEvent, JobEventStore, JobEventType } from '../store/job-event-store.ts'

export type { JobEvent, JobEventType } from '../store/job-event-store.ts'

/**
 * The event log of the jobs this node coordinates. `record` is synchronous and
 * cheap (the coordinator calls it on its hot path); events are written to
 * LevelDB in batches behind it, and `follow` reads the stored ones first, then
 * the live ones, without a gap or a repeat, so a follower may start (or resume
 * after a daemon restart) at any point.
 */
export class JobEventLog {
  private readonly store: JobEventStore
  /** Last seq handed out, per job still running. */
  private readonly seqs = new Map<string, number>()
  private pending: JobEvent[] = []
  private writing: Promise<void> = Promise.resolve()
  private scheduled = false
  private readonly live = new EventEmitter<{ event: [JobEvent] }>()
  private readonly onEvent: (event: JobEvent) => void
  private readonly onWriteFailed: (err: Error) => void

  constructor (store: JobEventStore, options: { onEvent?: (event: JobEvent) => void, onWriteFailed?: (err: Error) => void } = {}) {
    this.store = store
    this.onEvent = options.onEvent ?? (() => {})
    this.onWriteFailed = options.onWriteFailed ?? (() => {})
    this.live.setMaxListeners(0)
  }

  /** Append an event to a job's log; a 'done' event closes it. */
  record (jobId: string, type: JobEventType, data: Record<string, unknown> = {}, at: number = Date.now()): JobEvent {
    const seq = (this.seqs.get(jobId) ?? 0) + 1
    if (type === 'done') this.seqs.delete(jobId)
    else this.seqs.set(jobId, seq)
    const event: JobEvent = { seq, jobId, type, at, data }
    this.pending.push(event)
    this.scheduleWrite()
    this.live.emit('event', event)
    this.onEvent(event)
    return event
  }

  /** Continue the log of a job recorded before this node restarted (its next seq follows the stored ones). */
  async reopen (jobId: string): Promise<void> {
    this.seqs.set(jobId, Math.max(this.seqs.get(jobId) ?? 0, await this.store.lastSeq(jobId)))
  }

  /** Whether the job's log is still open (the job has not ended). */
  isOpen (jobId: string): boolean {
    return this.seqs.has(jobId)
  }

  /** Resolves once every event recorded so far is on disk. */
  async flushed (): Promise<void> {
    if (this.pending.length > 0) this.writeNow()
    await this.writing
  }

  /**
   * The job's events after `afterSeq`, stored then live, ending after 'done'
   * (or at once, for a job whose log is closed), or when `signal` aborts.
   */
  async * follow (jobId: string, afterSeq = 0, signal?: AbortSignal): AsyncGenerator<JobEvent> {
    const queue: JobEvent[] = []
    let wake: (() => void) | undefined
    const listener = (event: JobEvent): void => {
      if (event.jobId !== jobId) return
      queue.push(event)
      wake?.()
    }
    const onAbort = (): void => { wake?.() }
    // Listen before reading the store: whatever is recorded meanwhile is queued, never lost.
    this.live.on('event', listener)
    signal?.addEventListener('abort', onAbort)
    try {
      await this.flushed()
      let last = afterSeq
      for (const event of await this.store.list(jobId, afterSeq)) {
        yield event
        last = event.seq
        if (event.type === 'done') return
      }
      for (;;) {
        while (queue.length > 0) {
          const event = queue.shift()!
          if (event.seq <= last) continue
          yield event
          last = event.seq
          if (event.type === 'done') return
        }
        if (signal?.aborted === true || !this.isOpen(jobId)) return
        await new Promise<void>(resolve => { wake = resolve })
        wake = undefined
      }
    } finally {
      this.live.off('event', listener)
      signal?.removeEventListener('abort', onAbort)
    }
  }

  private scheduleWrite (): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => { this.writeNow() })
  }

  private writeNow (): void {
    this.scheduled = false
    const batch = this.pending
    if (batch.length === 0) return
    this.pending = []
    this.writing = this.writing.then(async () => { await this.store.append(batch) }).catch((err: Error) => { this.onWriteFailed(err) })
  }
}
