import type { Outcome, ReceiptBody } from '../../../src/market/messages.ts'
import type { StoredReceipt } from '../../../src/store/receipt-store.ts'

let counter = 0

/**
 * A stored receipt as reputation sees it: who signed the verdict, for which
 * agent, what outcome, when. Reputation trusts the store to have verified the
 * signatures, so these carry none.
 */
export function receipt (options: { coordinator: string, agent: string, outcome?: Outcome, at: number, specId?: string, id?: string, receivedAt?: number }): StoredReceipt {
  const id = options.id ?? `receipt-${++counter}`
  const body = {
    specId: options.specId ?? 'spec-id',
    jobId: `job-${id}`,
    awardId: `award-${id}`,
    agent: options.agent,
    attempt: 1,
    inputHash: '0'.repeat(64),
    startedAt: options.at - 10,
    endedAt: options.at,
    deadline: options.at + 1000,
    costUsd: 0,
    outcome: options.outcome ?? 'success',
    claim: null,
    verdictAt: options.at
  } satisfies ReceiptBody
  return { id, envelope: { type: 'receipt', v: 1, id, body, signer: options.coordinator, sig: '' }, receivedAt: options.receivedAt ?? options.at }
}

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng (seed: number): () => number {
  let s = seed | 0
  return () => {
    s = (s + 0x6d2b79f5) | 0
    let t = Math.imul(s ^ (s >>> 15), 1 | s)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Throws unless two plain values are equal, numbers to within `tolerance`. Returns the largest numeric difference. */
export function assertClose (x: unknown, y: unknown, tolerance: number, path = '$'): number {
  if (typeof x === 'number' && typeof y === 'number') {
    const diff = Math.abs(x - y)
    if (!(diff <= tolerance)) throw new Error(`${path}: ${x} vs ${y} (|Δ| ${diff} > ${tolerance})`)
    return diff
  }
  if (x != null && y != null && typeof x === 'object' && typeof y === 'object') {
    if (Array.isArray(x) !== Array.isArray(y)) throw new Error(`${path}: array vs object`)
    const keys = new Set([...Object.keys(x), ...Object.keys(y)])
    let max = 0
    for (const key of keys) max = Math.max(max, assertClose((x as Record<string, unknown>)[key], (y as Record<string, unknown>)[key], tolerance, `${path}.${key}`))
    return max
  }
  if (x !== y) throw new Error(`${path}: ${String(x)} vs ${String(y)}`)
  return 0
}
