import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { Spec } from '../spec/index.ts'
import type { SpecUpdate, VerifyFailure, VerifyReply, VerifyRequest } from './verify-worker.ts'
import { siblingModule } from '../util/module-url.ts'

export type { VerifyFailure } from './verify-worker.ts'

export interface VerifierPoolOptions {
  /** Worker threads. @default os.availableParallelism() */
  threads?: number
  /** Specs the receipts may name, by id; more can be added with addSpec. */
  specs?: Iterable<[string, Spec]>
}

/**
 * Validates many receipt messages at once on worker threads, each running the
 * market's own validateReceipt (src/market/validators.ts), so bulk paths
 * (sync from a peer, benchmarks) verify on every core with exactly the rules
 * gossip applies. Two Ed25519 checks per receipt make verification the cost of
 * ingesting a receipt; one JavaScript thread manages about 3,500 receipts/s on
 * the reference machine.
 */
export class ReceiptVerifierPool {
  private readonly workers: Worker[]
  private readonly pending = new Map<number, { resolve: (results: Array<VerifyFailure | null>) => void, reject: (err: Error) => void }>()
  private readonly busy: number[]
  private nextId = 0
  private closed = false

  constructor (options: VerifierPoolOptions = {}) {
    const threads = Math.max(1, options.threads ?? availableParallelism())
    const specs = [...(options.specs ?? [])]
    this.busy = new Array<number>(threads).fill(0)
    this.workers = Array.from({ length: threads }, () => {
      const worker = new Worker(siblingModule('./verify-worker.ts', import.meta.url), { workerData: { specs } })
      worker.on('message', (reply: VerifyReply) => {
        const waiter = this.pending.get(reply.id)
        if (waiter == null) return
        this.pending.delete(reply.id)
        waiter.resolve(reply.results)
      })
      worker.on('error', (err: Error) => { this.failAll(err) })
      worker.unref()
      return worker
    })
  }

  get threads (): number {
    return this.workers.length
  }

  addSpec (specId: string, spec: Spec): void {
    for (const worker of this.workers) worker.postMessage({ kind: 'spec', specId, spec } satisfies SpecUpdate)
  }

  /** One result per message, in order: null when accepted, else the verdict validateReceipt gives. */
  async verify (items: Uint8Array[]): Promise<Array<VerifyFailure | null>> {
    if (this.closed) throw new Error('the verifier pool is closed')
    if (items.length === 0) return []
    const chunk = Math.ceil(items.length / this.workers.length)
    const parts: Array<Promise<Array<VerifyFailure | null>>> = []
    for (let start = 0; start < items.length; start += chunk) parts.push(this.send(items.slice(start, start + chunk)))
    return (await Promise.all(parts)).flat()
  }

  async close (): Promise<void> {
    this.closed = true
    this.failAll(new Error('the verifier pool was closed'))
    await Promise.all(this.workers.map(async w => await w.terminate()))
  }

  private send (items: Uint8Array[]): Promise<Array<VerifyFailure | null>> {
    let index = 0
    for (let i = 1; i < this.busy.length; i++) if (this.busy[i]! < this.busy[index]!) index = i
    const id = this.nextId++
    this.busy[index]!++
    const worker = this.workers[index]!
    worker.ref()
    return new Promise<Array<VerifyFailure | null>>((resolve, reject) => {
      const done = (): void => {
        this.busy[index]!--
        if (this.busy[index] === 0) worker.unref()
      }
      this.pending.set(id, {
        resolve: results => { done(); resolve(results) },
        reject: err => { done(); reject(err) }
      })
      worker.postMessage({ kind: 'verify', id, items } satisfies VerifyRequest)
    })
  }

  private failAll (err: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(err)
    this.pending.clear()
  }
}
