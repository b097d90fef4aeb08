/**
 * One thread of ReceiptVerifierPool (verify-pool.ts): runs the market's own
 * receipt validator (validateReceipt) on each message it is handed and answers
 * null for an accepted message or the verdict for a refused one.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { marketContext, validateReceipt, type MarketContext } from '../market/validators.ts'
import { RecentJobs } from '../market/recent-jobs.ts'
import { MessageValidationError } from '../wire/errors.ts'
import type { Spec } from '../spec/index.ts'

export interface VerifyRequest {
  kind: 'verify'
  id: number
  items: Uint8Array[]
}

export interface SpecUpdate {
  kind: 'spec'
  specId: string
  spec: Spec
}

export interface VerifyFailure {
  action: 'reject' | 'ignore'
  code: string
  message: string
}

export interface VerifyReply {
  id: number
  results: Array<VerifyFailure | null>
}

const port = parentPort
if (port == null) throw new Error('verify-worker.ts runs as a worker thread')

const specs = new Map<string, Spec>((workerData as { specs: Array<[string, Spec]> }).specs)
const ctx: MarketContext = marketContext({ now: Date.now, specOf: async specId => specs.get(specId) ?? null, jobs: new RecentJobs(1) })

port.on('message', (message: VerifyRequest | SpecUpdate) => {
  if (message.kind === 'spec') {
    specs.set(message.specId, message.spec)
    return
  }
  void (async () => {
    const results: Array<VerifyFailure | null> = []
    for (const bytes of message.items) {
      try {
        await validateReceipt(bytes, ctx)
        results.push(null)
      } catch (err) {
        results.push(err instanceof MessageValidationError
          ? { action: err.action, code: err.code, message: err.message }
          : { action: 'reject', code: 'invalid', message: (err as Error).message })
      }
    }
    port.postMessage({ id: message.id, results } satisfies VerifyReply)
  })()
})
