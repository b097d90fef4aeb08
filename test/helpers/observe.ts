import { TOPICS } from '../../src/wire/constants.ts'
import { parseSpecTopic } from '../../src/market/topics.ts'
import type { TestNode } from './mesh.ts'

export interface JobEnvelopeSeen {
  id: string
  at: number
}

/** Collect every job message the node accepts from gossip, as it arrives. */
export function observeJobs (node: TestNode): JobEnvelopeSeen[] {
  const seen: JobEnvelopeSeen[] = []
  const decoder = new TextDecoder()
  node.libp2p.services.pubsub.addEventListener('message', event => {
    if (event.detail.topic !== TOPICS.jobs && parseSpecTopic(event.detail.topic)?.kind !== 'jobs') return
    seen.push({ id: (JSON.parse(decoder.decode(event.detail.data)) as { id: string }).id, at: Date.now() })
  })
  return seen
}
