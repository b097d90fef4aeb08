import type { SpecmeshNode } from '../node-types.ts'
import type { StoredReceipt } from '../store/receipt-store.ts'
import { loadReputationConfig } from './config.ts'
import { Reputation, type ReputationOptions, type ReputationView } from './reputation.ts'

/** The parts of a node reputation needs: its public API, and its receipt events when it has them (src/node.ts Node does). */
export type NodeLike = Pick<SpecmeshNode, 'peerId' | 'home' | 'listReceipts' | 'getSpec' | 'listSpecs'> & {
  events?: { on: (event: 'receipt', listener: (record: StoredReceipt) => void) => unknown }
  reputation?: ReputationView
}

export interface AttachOptions extends Partial<Omit<ReputationOptions, 'self' | 'specName'>> {
  /** Log sink for receipts that failed to ingest. */
  log?: (event: string, fields?: Record<string, unknown>) => void
}

/**
 * A Reputation for a running node, built from its public API: trust settings
 * from `<home>/config.json` (plus `options.trustedPeers`), every receipt it
 * holds, and every new one from its 'receipt' event. Subscribes before it
 * rebuilds, so no receipt stored meanwhile is lost. For tests and for nodes
 * that do not wire one in themselves (src/node.ts should: see
 * protocols/reputation.md, "Wiring").
 */
export async function attachReputation (node: NodeLike, options: AttachOptions = {}): Promise<Reputation> {
  const config = await loadReputationConfig(node.home)
  const reputation = new Reputation({
    halfLifeMs: config.halfLifeMs,
    teleport: config.teleport,
    ...options,
    trustedPeers: [...config.trustedPeers, ...(options.trustedPeers ?? [])],
    self: node.peerId,
    specName: async specId => (await node.getSpec(specId))?.spec.name ?? null
  })
  node.events?.on('receipt', record => {
    reputation.ingest(record).catch(err => { options.log?.('reputation.ingest-failed', { id: record.id, error: (err as Error).message }) })
  })
  for (const spec of await node.listSpecs()) reputation.learnSpec(spec.id, spec.spec.name)
  await reputation.rebuild(await node.listReceipts())
  return reputation
}

const attached = new WeakMap<object, Promise<ReputationView>>()

/**
 * The node's reputation: its own when it has one (`node.reputation`), else one
 * attached on first use and kept for the node's lifetime. A node without
 * receipt events gets a fresh rebuild on every call.
 */
export async function reputationOfNode (node: NodeLike): Promise<ReputationView> {
  if (node.reputation != null) return node.reputation
  if (node.events == null) return await attachReputation(node)
  let pending = attached.get(node)
  if (pending == null) {
    pending = attachReputation(node)
    attached.set(node, pending)
    pending.catch(() => { attached.delete(node) })
  }
  return await pending
}
