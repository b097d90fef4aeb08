/**
 * bench:cascade's model of the agent's machine: `cores` cores shared by
 * whatever runs (processor sharing), on the wall clock. Each job needs
 * `serviceMs` of work, and n jobs at once each progress at min(1, cores/n).
 * Work is advanced by the time that really passed since the last change, and a
 * timer is set for the next completion, so a busy event loop delays when a
 * finish is noticed (counted in `lateMs`), never how fast the cores work. (An
 * earlier model advanced a fixed 10 ms per interval tick; under load the ticks
 * stretched, so the simulated cores slowed down with the process and the agent
 * looked idle while it was full.)
 */
export interface MachineFigures {
  executions: number
  peak: number
  startedAfterSoftDeadline: number
  /** Core-milliseconds of work done, for the agent's utilisation. */
  busyCoreMs: number
  firstStart: number
  lastEnd: number
  /** How late completions were noticed in all (timer lateness: the event loop's lag), and how many there were. */
  lateMs: number
  completions: number
}

export interface MachineEvents {
  started: (jobId: string, at: number) => void
  ended: (jobId: string, at: number) => void
}

export class SharedMachine {
  private readonly jobs = new Set<{ left: number, done: () => void }>()
  private timer: NodeJS.Timeout | undefined
  private lastAdvanceAt = 0
  private running = 0
  private figures: MachineFigures = SharedMachine.zero()
  private readonly cores: number
  private readonly serviceMs: number
  private readonly events: MachineEvents

  constructor (cores: number, serviceMs: number, events: MachineEvents) {
    this.cores = cores
    this.serviceMs = serviceMs
    this.events = events
  }

  private static zero (): MachineFigures {
    return { executions: 0, peak: 0, startedAfterSoftDeadline: 0, busyCoreMs: 0, firstStart: 0, lastEnd: 0, lateMs: 0, completions: 0 }
  }

  /** What the machine did since it was made or last reset. */
  report (): MachineFigures { return { ...this.figures } }

  /** Start counting afresh (after a warm-up); jobs still running keep running. */
  reset (): void { this.figures = { ...SharedMachine.zero(), peak: this.running } }

  async work (jobId: string, signal: AbortSignal, softDeadline: number | undefined): Promise<void> {
    const f = this.figures
    f.executions++
    this.events.started(jobId, Date.now())
    if (softDeadline != null && Date.now() > softDeadline) f.startedAfterSoftDeadline++
    this.running++
    f.peak = Math.max(f.peak, this.running)
    try {
      await new Promise<void>((resolve, reject) => {
        this.advance()
        const job = { left: this.serviceMs, done: resolve }
        this.jobs.add(job)
        signal.addEventListener('abort', () => { this.advance(); this.jobs.delete(job); this.schedule(); reject(signal.reason) }, { once: true })
        this.schedule()
      })
    } finally {
      this.running--
      this.events.ended(jobId, Date.now())
    }
  }

  private rate (): number {
    return Math.min(1, this.cores / Math.max(1, this.jobs.size))
  }

  /** Do the work of the time passed since the last change; finish what is done. */
  private advance (): void {
    const now = Date.now()
    const f = this.figures
    f.firstStart ||= now
    if (this.jobs.size > 0) {
      const rate = this.rate()
      const share = (now - this.lastAdvanceAt) * rate
      f.busyCoreMs += share * this.jobs.size
      f.lastEnd = now
      for (const job of [...this.jobs]) {
        job.left -= share
        if (job.left <= 0) {
          f.lateMs += -job.left / rate
          f.completions++
          this.jobs.delete(job)
          job.done()
        }
      }
    }
    this.lastAdvanceAt = now
  }

  /** A timer for the next completion at the current share. */
  private schedule (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.jobs.size === 0) return
    let least = Infinity
    for (const job of this.jobs) least = Math.min(least, job.left)
    this.timer = setTimeout(() => { this.advance(); this.schedule() }, Math.max(0, Math.ceil(least / this.rate())))
  }
}
