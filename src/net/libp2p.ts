import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub, StrictNoSign, type GossipSub } from '@libp2p/gossipsub'
import { createTopicScoreParams } from '@libp2p/gossipsub/score'
import type { PrivateKey } from '@libp2p/interface'
import type { Message } from '@libp2p/gossipsub'
import { sha256 } from '../crypto/content-id.ts'
import { MAX_MESSAGE_BYTES, TOPICS } from '../wire/constants.ts'

export type SpecmeshLibp2p = Libp2p<{ pubsub: GossipSub, identify: ReturnType<ReturnType<typeof identify>> }>

export interface Libp2pInit {
  privateKey: PrivateKey
  /** @default ['/ip4/0.0.0.0/tcp/0'] */
  listen?: string[]
}

/**
 * Messages are signed once, by the application, inside the envelope; gossipsub
 * itself runs StrictNoSign with the message id set to the content hash of the
 * bytes, as Ethereum consensus clients do (DESIGN.md "Measured": signing twice
 * costs throughput for nothing).
 */
/**
 * Peer scoring per topic, gossipsub v1.1 style: what counts against a peer is
 * sending messages our validators Reject (P4, weighted by the square of their
 * number). A handful of forged or malformed messages take a peer below the
 * graylist threshold (-80), after which its messages are dropped unread. The
 * delivery-rate terms are off: our topics are bursty and a quiet peer is not
 * a bad one.
 */
const TOPIC_SCORE = createTopicScoreParams({
  topicWeight: 1,
  timeInMeshWeight: 0,
  firstMessageDeliveriesWeight: 0,
  meshMessageDeliveriesWeight: 0,
  meshFailurePenaltyWeight: 0,
  invalidMessageDeliveriesWeight: -10,
  invalidMessageDeliveriesDecay: 0.99
})

export async function buildLibp2p (init: Libp2pInit): Promise<SpecmeshLibp2p> {
  const node = await createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen: init.listen ?? ['/ip4/0.0.0.0/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({
        globalSignaturePolicy: StrictNoSign,
        msgIdFn: (msg: Message) => sha256(msg.data),
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        emitSelf: false,
        // The limit applies to a whole RPC frame, which wraps the message in protobuf and control data.
        maxInboundDataLength: MAX_MESSAGE_BYTES + 16 * 1024,
        // Our messages are small and latency matters more than bandwidth here.
        heartbeatInterval: 700,
        scoreParams: { topics: Object.fromEntries(Object.values(TOPICS).map(topic => [topic, TOPIC_SCORE])) }
      })
    }
  })
  return node as unknown as SpecmeshLibp2p
}
