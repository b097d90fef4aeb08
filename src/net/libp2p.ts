import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub, StrictNoSign, type GossipSub } from '@libp2p/gossipsub'
import type { PrivateKey } from '@libp2p/interface'
import type { Message } from '@libp2p/gossipsub'
import { sha256 } from '../crypto/content-id.ts'
import { MAX_MESSAGE_BYTES } from '../wire/constants.ts'

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
        heartbeatInterval: 700
      })
    }
  })
  return node as unknown as SpecmeshLibp2p
}
