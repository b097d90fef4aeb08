/**
 * The three agents of the article's pipeline, as handlers. The work is canned (this is a
 * demo of coordination, not of speech recognition), but each one takes time, honours the
 * abort signal the node gives it, and records what happened to it so the demo can check
 * that, e.g., the Audio agent really was stopped at its deadline.
 */
import type { Handler } from '../../src/node-types.ts'

/** What a handler saw: one entry per call. */
export interface Call {
  jobId: string
  startedAt: number
  endedAt?: number
  /** Set when the node aborted the work (deadline): when, and why. */
  abortedAt?: number
  abortReason?: string
}

export interface AgentBehaviour {
  /** How long the work takes, in real milliseconds; the demo changes it between runs. */
  workMs: number
  calls: Call[]
}

const TRANSCRIPT = [
  'Agents do not coordinate, they collide. Agent A calls agent B, agent B is busy, and',
  'retries pile up until the system melts down. Negotiation fails at scale. Publish every',
  'task as a spec instead: input, output, capacity, deadline, budget and success criteria.',
  'Agents read the spec and regulate themselves: they respect the deadline, stay within the',
  'budget and back off when capacity is full. Specs are the infrastructure layer.'
].join(' ')

const STOPWORDS = new Set(['agent', 'agents', 'their', 'themselves', 'instead', 'until', 'every', 'calls', 'busy'])

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
function work (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

function tracked (behaviour: AgentBehaviour, produce: (input: Record<string, unknown>) => unknown): Handler {
  return async (input, { signal, jobId }) => {
    const call: Call = { jobId, startedAt: Date.now() }
    behaviour.calls.push(call)
    signal.addEventListener('abort', () => {
      call.abortedAt = Date.now()
      call.abortReason = (signal.reason as Error | undefined)?.message ?? String(signal.reason)
    }, { once: true })
    try {
      await work(behaviour.workMs, signal)
      return produce(input as Record<string, unknown>)
    } finally {
      call.endedAt = Date.now()
    }
  }
}

/** Agent Audio: "transcribes" the video. */
export function audioHandler (behaviour: AgentBehaviour): Handler {
  return tracked(behaviour, input => ({ text: `${TRANSCRIPT} (source: ${String(input.video)})`, language: 'en', seconds: 754 }))
}

/** Agent NLP: the most frequent long words of the transcript, each of which really occurs in it. */
export function nlpHandler (behaviour: AgentBehaviour): Handler {
  return tracked(behaviour, input => {
    const counts = new Map<string, number>()
    for (const word of String(input.transcript).toLowerCase().match(/[a-z]{5,}/g) ?? []) {
      if (!STOPWORDS.has(word)) counts.set(word, (counts.get(word) ?? 0) + 1)
    }
    const top = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 3)
    const max = top[0]?.[1] ?? 1
    return { topics: top.map(([name, n]) => ({ name, weight: Math.round((n / max) * 100) / 100 })) }
  })
}

/** Agent Summ: one sentence naming every topic. */
export function summHandler (behaviour: AgentBehaviour): Handler {
  return tracked(behaviour, input => {
    const names = (input.topics as Array<{ name: string }>).map(t => t.name)
    const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names[0]
    return { summary: `A talk on ${list}: publish each task as a spec and let agents regulate themselves.` }
  })
}
