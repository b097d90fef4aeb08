import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey, type Signer } from '../../src/crypto/signatures.ts'
import { seal } from '../../src/wire/envelope.ts'
import type { ReceiptBody } from '../../src/market/messages.ts'
import { openDb } from '../../src/store/db.ts'
import { homePaths } from '../../src/store/home.ts'
import { ReceiptStore, type StoredReceipt } from '../../src/store/receipt-store.ts'
import { startNode, type TestNode } from './mesh.ts'
import { sampleSpec } from './specs.ts'

/** A key derived from one byte, so a test's parties are the same on every run. */
export async function testKey (byte: number): Promise<Signer> {
  const privateKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(byte))
  return signerFromPrivateKey(privateKey, peerIdFromPrivateKey(privateKey).toString())
}

/**
 * `count` valid signed receipts (timeouts: no claim to sign) by `coordinator`
 * for `agent` on `specId`, distinct by `tag`: what a node would hold after that
 * many jobs, made in milliseconds instead of running them.
 */
export function signedReceipts (count: number, options: { specId: string, coordinator: Signer, agent: Signer, tag: string }): StoredReceipt[] {
  const now = Date.now()
  return Array.from({ length: count }, (_, i) => {
    const body: ReceiptBody = {
      specId: options.specId,
      jobId: `bagaaierajob${options.tag}${i}`,
      awardId: `bagaaieraaward${options.tag}${i}`,
      agent: options.agent.peerId,
      attempt: 1,
      inputHash: '0'.repeat(64),
      startedAt: now - 2000,
      endedAt: now - 1000 + i % 1000,
      deadline: now + 60_000,
      costUsd: 0,
      outcome: 'timeout',
      reason: 'no answer',
      claim: null,
      verdictAt: now - 1000
    }
    return { id: '', envelope: seal('receipt', body, options.coordinator), receivedAt: now }
  }).map(r => ({ ...r, id: r.envelope.id }))
}

/** Write receipts straight into a stopped node's store (as if it had received them). */
export async function storeReceipts (home: string, records: StoredReceipt[]): Promise<void> {
  const db = await openDb(homePaths(home).db)
  try {
    const store = new ReceiptStore(db)
    await store.load()
    await store.putMany(records)
  } finally {
    await db.close()
  }
}

/**
 * A node on `home` holding the specs named `specNames` (published by it) and
 * the receipts `receiptsOf(specIds)` makes: started once to publish, stopped
 * to fill its store, started again.
 */
export async function startHolding (home: string, specNames: string[], receiptsOf: (specIds: string[]) => StoredReceipt[], log?: (event: string, fields?: Record<string, unknown>) => void): Promise<{ node: TestNode, specIds: string[], receipts: StoredReceipt[] }> {
  const first = await startNode({ home })
  const specIds: string[] = []
  for (const name of specNames) specIds.push((await first.publishSpec(sampleSpec(name))).id)
  await first.stop()
  const receipts = receiptsOf(specIds)
  await storeReceipts(home, receipts)
  return { node: await startNode({ home, log }), specIds, receipts }
}
