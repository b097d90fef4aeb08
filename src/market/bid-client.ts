import { peerIdFromString } from '@libp2p/peer-id'
import type { Stream } from '@libp2p/interface'
import type { SpecmeshLibp2p } from '../net/libp2p.ts'
import type { FramedStream } from '../net/frames.ts'
import { PROTOCOLS } from '../wire/constants.ts'
import { encodeEnvelope, type Envelope } from '../wire/envelope.ts'
import type { BidAnswer } from './messages.ts'
import { BidAnswerError, bidStream, BID_ANSWER_TIMEOUT_MS, MAX_BID_ANSWER_BYTES, readBidAnswer } from './bid-protocol.ts'

/** The bid stream to a coordinator failed (could not be opened, ended, or broke the protocol) before the bid's answer came. */
export class BidStreamError extends Error {
  override name = 'BidStreamError'
}

/** No connection to the coordinator is open: the bid goes by gossip (see BidClient.open). */
export class NoCoordinatorConnectionError extends BidStreamError {
  override name = 'NoCoordinatorConnectionError'
}

/**
 * A bid stream that has not answered yet (just opened, or still opening) did
 * not answer this bid within the time it was given: the bid goes by gossip,
 * and the stream stays for the next one (see BidClient.send).
 */
export class ColdBidStreamError extends BidStreamError {
  override name = 'ColdBidStreamError'
}

export interface SendBidOptions {
  /**
   * While the stream to this coordinator has answered nothing yet, give up on
   * it for this bid after this many ms (the bid then goes by gossip). A stream
   * that has answered once is waited on for its answer as long as it lives.
   */
  coldWithinMs?: number
}

interface Waiter {
  bidId: string
  resolve: (answer: BidAnswer) => void
  reject: (err: Error) => void
}

/**
 * One long-lived bid stream to one coordinator. Bids go out as they are made;
 * the coordinator answers each in order, so answers are matched first in,
 * first out (and checked against the bid id each names).
 */
class BidSession {
  private readonly stream: Stream
  private readonly lp: FramedStream
  private readonly waiters: Waiter[] = []
  private failure: Error | undefined
  /** Whether the coordinator has answered a bid on this stream: it is served, not waiting on the coordinator's side to be taken up. */
  answered = false

  constructor (stream: Stream) {
    this.stream = stream
    this.lp = bidStream(stream, MAX_BID_ANSWER_BYTES)
    this.readAnswers().catch(err => { this.fail(err as Error) })
  }

  get usable (): boolean {
    return this.failure == null && this.stream.status === 'open' && this.stream.remoteWriteStatus === 'writable'
  }

  async send (bid: Envelope<object>, signal: AbortSignal): Promise<BidAnswer> {
    if (this.failure != null) throw this.failure
    const answer = new Promise<BidAnswer>((resolve, reject) => { this.waiters.push({ bidId: bid.id, resolve, reject }) })
    answer.catch(() => {})
    const onAbort = (): void => { this.fail(new BidStreamError(`no answer from the coordinator within ${BID_ANSWER_TIMEOUT_MS} ms`)) }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await this.lp.write(encodeEnvelope(bid), { signal })
      return await answer
    } catch (err) {
      const failure = err instanceof BidStreamError ? err : new BidStreamError(`bid stream failed: ${(err as Error)?.message ?? String(err)}`)
      this.fail(failure)
      throw failure
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  private async readAnswers (): Promise<void> {
    for (;;) {
      const answer = readBidAnswer((await this.lp.read()).subarray())
      const waiter = this.waiters.shift()
      if (waiter == null) throw new BidAnswerError('the coordinator answered a bid that was not sent')
      if (answer.bidId != null && answer.bidId !== waiter.bidId) throw new BidAnswerError(`the coordinator answered bid ${answer.bidId} where ${waiter.bidId} was due`)
      this.answered = true
      waiter.resolve(answer)
    }
  }

  private fail (err: Error): void {
    if (this.failure == null) {
      this.failure = err instanceof BidStreamError ? err : new BidStreamError(`bid stream ended: ${err.message}`)
    }
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.failure)
    if (this.stream.status === 'open') this.stream.abort(this.failure)
  }

  close (): void {
    this.fail(new BidStreamError('closed by this node'))
  }
}

/**
 * The agent's side of the bid stream: one session per coordinator, opened on
 * the first bid and replaced when it ends (a coordinator closes a stream after
 * a refusal no honest agent earns, or when it stops).
 *
 * A new stream is slow on a node that has just met its peers: libp2p records
 * each stream's protocol in the peer store on both sides before the stream is
 * used, and that write waits behind every other write about the same peer
 * (gossipsub's tag for each topic it meshes, identify, the DHT), which under
 * load took 0.3 s (bench:cascade, issue 13) while later bids were answered in
 * milliseconds. So until a stream has answered once, a bid waits on it only
 * for `coldWithinMs` and then goes by gossip; the stream keeps opening for the next.
 */
export class BidClient {
  private readonly libp2p: SpecmeshLibp2p
  private readonly protocol: string
  private readonly sessions = new Map<string, Promise<BidSession>>()
  /** The sessions whose stream has opened, by coordinator (what send can look at without waiting). */
  private readonly ready = new Map<string, BidSession>()
  /** Coordinators being dialled in the background (see warm). */
  private readonly warming = new Set<string>()

  constructor (libp2p: SpecmeshLibp2p, protocol: string = PROTOCOLS.bid) {
    this.libp2p = libp2p
    this.protocol = protocol
  }

  /**
   * Send one signed bid to `coordinator` and resolve with its answer;
   * BidStreamError when none came (ColdBidStreamError: none within
   * `coldWithinMs` from a stream that had not answered before).
   */
  async send (coordinator: string, bid: Envelope<object>, options: SendBidOptions = {}): Promise<BidAnswer> {
    const signal = AbortSignal.timeout(BID_ANSWER_TIMEOUT_MS)
    const open = this.ready.get(coordinator)
    const warm = open?.usable === true && open.answered ? open : undefined
    const coldWithinMs = options.coldWithinMs
    if (warm != null || coldWithinMs == null) return await (warm ?? await this.session(coordinator, signal)).send(bid, signal)
    // Sent on the stream even when it opens after the wait: the coordinator's answer to that copy is what warms the stream.
    const sending = this.session(coordinator, signal).then(async session => await session.send(bid, signal))
    let timer: ReturnType<typeof setTimeout> | undefined
    const cold = new Promise<undefined>(resolve => { timer = setTimeout(() => { resolve(undefined) }, coldWithinMs) })
    try {
      const answer = await Promise.race([sending, cold])
      if (answer != null) return answer
    } finally {
      clearTimeout(timer)
    }
    // The coordinator answers it as the copy of the bid that went by gossip (stream-bids.ts); nobody waits for that answer.
    sending.catch(() => {})
    throw new ColdBidStreamError(`the new bid stream to the coordinator ${coordinator} did not answer within ${coldWithinMs} ms: the bid goes by gossip, the stream stays for the next`)
  }

  private async session (coordinator: string, signal: AbortSignal): Promise<BidSession> {
    const existing = this.sessions.get(coordinator)
    if (existing != null) {
      const session = await existing.catch(() => undefined)
      if (session?.usable === true) return session
      if (this.sessions.get(coordinator) === existing) {
        this.sessions.delete(coordinator)
        this.ready.delete(coordinator)
      }
    }
    const opening = this.open(coordinator, signal)
    this.sessions.set(coordinator, opening)
    opening.then(session => { if (this.sessions.get(coordinator) === opening) this.ready.set(coordinator, session) }, () => { if (this.sessions.get(coordinator) === opening) this.sessions.delete(coordinator) })
    return await opening
  }

  private async open (coordinator: string, signal: AbortSignal): Promise<BidSession> {
    const peer = peerIdFromString(coordinator)
    // The coordinator is normally connected already (a gossip neighbour, or the one that
    // dialled us for an execution); a direct connection is preferred to a relayed one.
    const open = this.libp2p.getConnections(peer).filter(c => c.status === 'open')
    if (open.length === 0) {
      // A job carries no address: dialling a PeerId we hold no address for is a DHT walk that
      // would outlast the bid window. This bid goes by gossip; a dial to an address we do hold
      // opens the stream for the next one.
      this.warm(coordinator)
      throw new NoCoordinatorConnectionError(`no connection to the coordinator ${coordinator}`)
    }
    try {
      const connection = open.find(c => c.limits == null) ?? open[0]!
      // negotiateFully false: the protocol name goes out with the first bid, not a round trip before it.
      return new BidSession(await connection.newStream(this.protocol, { signal, runOnLimitedConnection: true, negotiateFully: false }))
    } catch (err) {
      throw new BidStreamError(`could not open a bid stream to the coordinator ${coordinator}: ${(err as Error).message}`)
    }
  }

  /** Dial the coordinator at an address the peer store holds, without waiting; the next bid finds the connection. */
  private warm (coordinator: string): void {
    if (this.warming.has(coordinator)) return
    const peer = peerIdFromString(coordinator)
    this.warming.add(coordinator)
    this.libp2p.peerStore.get(peer)
      .then(async known => {
        if (known.addresses.length === 0) return
        await this.libp2p.dial(peer, { signal: AbortSignal.timeout(BID_ANSWER_TIMEOUT_MS) })
      })
      .catch(() => {})
      .finally(() => { this.warming.delete(coordinator) })
  }

  close (): void {
    for (const opening of this.sessions.values()) opening.then(s => { s.close() }, () => {})
    this.sessions.clear()
    this.ready.clear()
  }
}
