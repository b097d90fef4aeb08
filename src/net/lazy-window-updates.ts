import type { StreamMuxerFactory } from '@libp2p/interface'

/**
 * yamux window updates once half a stream's receive window is used, not after
 * every data frame.
 *
 * @chainsafe/libp2p-yamux answers every data frame it receives with a window
 * update giving back exactly the bytes that frame used: one more frame to
 * encrypt and one more socket write, on the receiving side, for every message
 * of every stream (a gossip RPC, a capacity advert, a bid, an execution frame, a
 * ping). The sender never needed it: a stream's window is 256 KiB and these
 * messages are under 2 KiB. go-yamux and hashicorp/yamux (and rust-yamux) send
 * an update only once the window has fallen to half, which is what this does;
 * the remote then always has at least half a window to send into. Nothing
 * changes on the wire but how often a WindowUpdate frame comes; a stream's
 * opening and closing frames (SYN, ACK, FIN, RST) are untouched.
 *
 * Applied at the muxer factory, so every connection's every stream, inbound and
 * outbound, gets it; a muxer or stream of another shape is left as it is.
 */

/** yamux's StreamState.Established (@chainsafe/libp2p-yamux stream.js; the enum is not exported): the one state in which an update carries no flag. */
const ESTABLISHED = 3

/** The parts of @chainsafe/libp2p-yamux's YamuxStream this reads. */
interface WindowedStream {
  state: number
  recvWindow: number
  recvWindowCapacity: number
  sendWindowUpdate: () => void
}

/** Make `stream` send its window updates only once half its receive window is used. A stream of another shape is left as it is. */
export function deferWindowUpdates (stream: object): void {
  const s = stream as Partial<WindowedStream>
  const send = s.sendWindowUpdate
  if (typeof send !== 'function' || typeof s.recvWindow !== 'number' || typeof s.recvWindowCapacity !== 'number') return
  s.sendWindowUpdate = function (this: WindowedStream) {
    // In any other state the update carries a flag (the SYN opening the stream, the ACK
    // accepting it) or yamux itself decides (paused): those go as yamux sends them.
    if (this.state === ESTABLISHED && this.recvWindowCapacity > this.recvWindow / 2) return
    send.call(this)
  }
}

/** What a yamux muxer calls to make each stream, inbound and outbound. */
interface MakesStreams {
  _newStream?: (...args: unknown[]) => object
}

type MuxerFactory = (components: any) => StreamMuxerFactory

/** The muxer `factory` makes, with every stream of every connection deferring its window updates (deferWindowUpdates). */
export function withLazyWindowUpdates (factory: MuxerFactory): MuxerFactory {
  return (components: any) => {
    const inner = factory(components)
    const lazy: StreamMuxerFactory = Object.create(inner)
    lazy.createStreamMuxer = (maConn) => {
      const muxer = inner.createStreamMuxer(maConn)
      const target = muxer as unknown as MakesStreams
      const newStream = target._newStream
      if (typeof newStream === 'function') {
        target._newStream = function (this: unknown, ...args: unknown[]) {
          const stream = newStream.apply(this, args)
          deferWindowUpdates(stream)
          return stream
        }
      }
      return muxer
    }
    return lazy
  }
}
