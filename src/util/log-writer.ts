/**
 * Log lines batched per event-loop turn. A node at full load logs several
 * lines per job (job submitted, awarded, succeeded; a bid, an award and an
 * outcome at the agents); written one by one, each is a system call (stderr
 * to a file or a pipe is written synchronously by Node on Linux). Here the
 * lines of one turn are joined and handed to `sink` once, from setImmediate,
 * or at once when `maxChars` are waiting.
 *
 * What can be lost: nothing on a normal exit, an uncaught exception or
 * process.exit (the owner flushes on 'exit'; createLogger flushes after every
 * warning and error line). On kill -9, an out-of-memory abort or a native crash, the lines
 * logged since the last flush: those of the event-loop turn that was running
 * (at most `maxChars`), never a line of an earlier turn.
 */

import { writeSync } from 'node:fs'

export interface BatchedWriter {
  /** Queue one line (newline included). */
  write: (text: string) => void
  /** Hand every queued line to the sink now. */
  flush: () => void
}

/** @param maxChars flush as soon as this many characters wait. @default 65536 */
export function batchedWriter (sink: (chunk: string) => void, maxChars = 64 * 1024): BatchedWriter {
  let pending = ''
  let scheduled: NodeJS.Immediate | undefined
  const flush = (): void => {
    if (scheduled != null) { clearImmediate(scheduled); scheduled = undefined }
    if (pending === '') return
    const chunk = pending
    pending = ''
    sink(chunk)
  }
  const write = (text: string): void => {
    pending += text
    if (pending.length >= maxChars) { flush(); return }
    // unref: a line waiting to be written does not keep the process alive; 'exit' flushes it.
    scheduled ??= setImmediate(flush).unref()
  }
  return { write, flush }
}

/** A sink that writes each chunk to an open file descriptor at once (as Node writes stderr to a file), for batchedWriter. */
export function fdSink (fd: number): (chunk: string) => void {
  return chunk => { writeSync(fd, chunk) }
}
