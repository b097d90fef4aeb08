import { Uint8ArrayList } from 'uint8arraylist'

/**
 * One socket write per send, not one per buffer.
 *
 * libp2p's TCP connection hands each buffer of what it sends to its own
 * `socket.write`, and noise gives it two per encrypted frame: the 2-byte length,
 * then the ciphertext. So every frame cost two write system calls and, with
 * TCP_NODELAY on, two segments, which the receiving side read as two 'data'
 * events. On these small messages (a job call, a bid, an award, an execution
 * frame: under 2 KB each) that doubled the kernel's share of every message on
 * both sides. Merged into one buffer first (a copy of the frame's bytes, which
 * costs far less than a system call), each frame is one write. The bytes on the
 * wire are the same; only how they are handed to the kernel changes.
 *
 * Applied at the connection encrypter, the one place that receives every
 * connection (inbound and outbound, TCP or relayed) before anything is sent on
 * it (connection-hooks.ts, in libp2p.ts).
 */

/** What a libp2p connection (AbstractMessageStream) calls to write what it has queued. */
interface SendsData {
  sendData?: (data: Uint8ArrayList) => unknown
}

/** Make `connection` write what it has queued as one buffer. A connection of another shape is left as it is. */
export function mergeQueuedWrites (connection: object): void {
  const target = connection as SendsData
  const sendData = target.sendData
  if (typeof sendData !== 'function') return
  target.sendData = function (this: unknown, data: Uint8ArrayList) {
    // subarray() joins the buffers (one buffer comes back as it is, uncopied).
    return sendData.call(this, new Uint8ArrayList(data.subarray()))
  }
}
