import { Socket } from 'node:net'
import { vi } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { buildLibp2p, type SpecmeshLibp2p } from '../../src/net/libp2p.ts'

/**
 * Bare libp2p nodes (specmesh's transports and gossipsub, no market, DHT off)
 * on 127.0.0.1, for tests of one network piece; each is remembered so that
 * stopBareNodes() in an afterEach stops every one a test started.
 */
const started: SpecmeshLibp2p[] = []

export async function bareNode (services: Record<string, (components: any) => unknown> = {}): Promise<SpecmeshLibp2p> {
  const node = await buildLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], dht: false, services })
  started.push(node)
  return node
}

export async function stopBareNodes (): Promise<void> {
  await Promise.allSettled(started.splice(0).map(async n => { await n.stop() }))
}

/** A stream from one bare node to another over TCP, and what the reader got on it. */
export interface ReaderStream {
  stream: Stream
  /** The reader's listen port: its socket of this connection is the one with this local port, the writer's the one with it as remote port. */
  readerPort: number
  /** Every message the reader got, in order. */
  received: Uint8Array[]
  receivedBytes: () => number
  /** The messages received, joined. */
  receivedJoined: () => Uint8Array
}

/** Two bare nodes, the reader keeping every message of `protocol`, and a stream to it from the writer. */
export async function streamToReader (protocol: string): Promise<ReaderStream> {
  const writerNode = await bareNode()
  const readerNode = await bareNode()
  const received: Uint8Array[] = []
  await readerNode.handle(protocol, (stream: Stream) => {
    stream.addEventListener('message', event => { received.push(event.data.subarray()) })
  })
  const readerPort = Number(readerNode.getMultiaddrs()[0]!.toString().split('/')[4])
  await writerNode.dial(readerNode.getMultiaddrs()[0]!)
  const stream = await writerNode.dialProtocol(readerNode.peerId, protocol)
  const receivedBytes = (): number => received.reduce((n, r) => n + r.byteLength, 0)
  const receivedJoined = (): Uint8Array => {
    const all = new Uint8Array(receivedBytes())
    let at = 0
    for (const r of received) { all.set(r, at); at += r.byteLength }
    return all
  }
  return { stream, readerPort, received, receivedBytes, receivedJoined }
}

/** Call `onWrite` with every socket write of this process from now on, before it is written (undone by vi.restoreAllMocks). */
export function spyOnSocketWrites (onWrite: (socket: Socket, chunk: unknown) => void): void {
  const write = Socket.prototype.write
  vi.spyOn(Socket.prototype, 'write').mockImplementation(function (this: Socket, ...args: any[]) {
    onWrite(this, args[0])
    return (write as (...a: any[]) => boolean).apply(this, args)
  })
}
