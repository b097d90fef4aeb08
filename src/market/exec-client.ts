import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Connection, Stream } from '@libp2p/interface'
import { encodeEnvelope, parseEnvelopeJson, type Envelope } from '../wire/envelope.ts'
import { MAX_OUTPUT_BYTES } from '../wire/constants.ts'
import type { SpecmeshLibp2p } from '../net/libp2p.ts'
import { EXEC_PROTOCOLS, encodeCancelFrame, execStream, supportsCancel, supportsLeases, supportsReceipts } from './exec-protocol.ts'

/** What came back for one award: the agent's claim frame, and its output frame when the claim says success. */
export interface ExecReply {
  claimBytes: Uint8Array
  /**
   * The claim frame as strict JSON, parsed once to route it (nothing is
   * authenticated yet): verifyClaim takes it from here. Absent when the frame
   * is not strict JSON; openClaim on claimBytes then says why.
   */
  claim?: unknown
  outputBytes?: Uint8Array
}

export class ExecSessionError extends Error {
  override name = 'ExecSessionError'
}

/** No execution stream could be opened to the agent (it is gone, or stopped): nothing was sent. */
export class AgentUnreachableError extends Error {
  override name = 'AgentUnreachableError'
  constructor (agent: string, cause: Error) {
    super(`could not reach the agent ${agent}: ${cause.message}`, { cause })
  }
}

/** The agent's execution stream does not carry lease frames (it predates execute/1.2.0). */
export class LeasesUnsupportedError extends Error {
  override name = 'LeasesUnsupportedError'
  constructor (agent: string, protocol: string) {
    super(`the execution stream to ${agent} speaks ${protocol}, which has no lease frames (execute/1.2.0)`)
  }
}

/** Called with each lease-end frame an agent sends (unauthenticated bytes: the listener opens them). */
export type LeaseEndListener = (agent: string, frame: Uint8Array) => void

/** The requester cancelled the exchange and the agent did not answer the cancel in time. */
export class ExchangeCancelledError extends Error {
  override name = 'ExchangeCancelledError'
  /** Whether a cancel frame went to the agent (false on a 1.0.0 stream, which has none). */
  readonly sent: boolean
  constructor (sent: boolean) {
    super(sent ? 'cancelled; the agent did not answer the cancel in time' : 'cancelled; this agent\'s stream (execute/1.0.0) cannot carry a cancel')
    this.sent = sent
  }
}

/**
 * The error a failed request write is reported as. A stream that closes or
 * resets while the write waits for room rejects it with the stream's close
 * event, not an Error: the attempt's reason (and its receipt) would read
 * "undefined" instead of what happened.
 */
function writeFailure (err: unknown): Error {
  if (err instanceof Error) return err
  const cause = (err as { error?: unknown } | null)?.error
  return new ExecSessionError(`execution stream ended while the request was written: ${cause instanceof Error ? cause.message : 'the stream closed'}`, cause instanceof Error ? { cause } : undefined)
}

/** How long a cancelled exchange waits for the agent's answer (its handler gets a kill grace of 2 s). */
export const CANCEL_REPLY_MS = 5_000

interface Waiter {
  resolve: (reply: ExecReply) => void
  reject: (err: Error) => void
}

const decoder = new TextDecoder()

/** What an exchange may add to its input on a relayed connection: the output, envelopes and framing. */
const EXCHANGE_OVERHEAD_BYTES = MAX_OUTPUT_BYTES + 64 * 1024

/**
 * One long-lived execution stream to one agent, carrying many exchanges: a
 * fresh stream per job costs a protocol negotiation and peer-store writes on
 * both sides, several times the cost of the round trip itself. Requests are
 * written whole in one send; replies may come back in any order and are matched
 * to their award by the claim's awardId.
 */
class ExecSession {
  readonly closed: Promise<void>
  readonly connection: Connection
  private readonly stream: Stream
  private readonly lp: ReturnType<typeof execStream>
  private readonly waiters = new Map<string, Waiter>()
  private failure: Error | undefined
  private readonly onLeaseEnd: ((frame: Uint8Array) => void) | undefined

  constructor (connection: Connection, stream: Stream, onLeaseEnd?: (frame: Uint8Array) => void) {
    this.connection = connection
    this.stream = stream
    this.onLeaseEnd = onLeaseEnd
    this.lp = execStream(stream)
    this.closed = this.readReplies().catch(err => { this.fail(err as Error) })
  }

  get usable (): boolean {
    return this.failure == null && this.stream.status === 'open'
  }

  /**
   * Whether an exchange with this much input fits in what the relay still lets
   * the connection carry: a relay resets a connection past its data limit,
   * which would fail the attempt half way. An unlimited connection always fits.
   */
  fits (inputBytes: number): boolean {
    const remaining = this.connection.limits?.bytes
    return remaining == null || remaining >= BigInt(inputBytes + EXCHANGE_OVERHEAD_BYTES)
  }

  /**
   * Send one request and wait for its reply, until `signal` aborts (the
   * attempt's time limit). When `cancel` aborts first, a cancel frame goes to
   * the agent and the reply (its claim saying cancelled) is awaited a little
   * longer; without one in time, or on a stream that has no cancel frame, the
   * exchange rejects with ExchangeCancelledError.
   */
  /** Whether this stream carries lease frames (execute/1.2.0). */
  get leases (): boolean {
    return supportsLeases(this.stream)
  }

  /** Whether this stream carries receipt frames (execute/1.3.0). */
  get receipts (): boolean {
    return supportsReceipts(this.stream)
  }

  get protocol (): string {
    return this.stream.protocol ?? 'an unknown protocol'
  }

  /** Write one frame that expects no reply of its own (a lease or a lease-end). */
  async send (frame: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (this.failure != null) throw this.failure
    await this.lp.writeV([frame], { signal }).catch((err: unknown) => { throw writeFailure(err) })
  }

  async exchange (award: Envelope<object>, inputBytes: Uint8Array, signal: AbortSignal, cancel?: AbortSignal): Promise<ExecReply> {
    if (this.failure != null) throw this.failure
    const reply = new Promise<ExecReply>((resolve, reject) => {
      this.waiters.set(award.id, { resolve, reject })
    })
    // The reply may be rejected (abort, stream failure) while the request is
    // still being written; the write's own error is what the caller sees then,
    // and an unobserved rejection would take the whole process down.
    reply.catch(() => {})
    const giveUp = (err: Error): void => {
      const waiter = this.waiters.get(award.id)
      this.waiters.delete(award.id)
      waiter?.reject(err)
    }
    const onAbort = (): void => { giveUp(signal.reason as Error) }
    let sent = false
    let graceTimer: NodeJS.Timeout | undefined
    const onCancel = (): void => {
      if (!supportsCancel(this.stream) || !sent) {
        giveUp(new ExchangeCancelledError(false))
        return
      }
      this.lp.write(encodeCancelFrame(award.id)).catch(() => {})
      graceTimer = setTimeout(() => { giveUp(new ExchangeCancelledError(true)) }, CANCEL_REPLY_MS)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await this.lp.writeV([encodeEnvelope(award), inputBytes], { signal }).catch((err: unknown) => { throw writeFailure(err) })
      sent = true
      if (cancel?.aborted === true) onCancel()
      else cancel?.addEventListener('abort', onCancel, { once: true })
      return await reply
    } finally {
      clearTimeout(graceTimer)
      signal.removeEventListener('abort', onAbort)
      cancel?.removeEventListener('abort', onCancel)
      this.waiters.delete(award.id)
    }
  }

  private async readReplies (): Promise<void> {
    for (;;) {
      const claimBytes = (await this.lp.read()).subarray()
      // Only routing happens here; the waiter authenticates the claim itself,
      // from this parse when the frame is strict JSON (one parse per claim).
      let head: { type?: unknown, body?: { awardId?: unknown, outcome?: unknown } }
      let strict = true
      try {
        head = parseEnvelopeJson(claimBytes) as typeof head
      } catch {
        strict = false
        try {
          head = JSON.parse(decoder.decode(claimBytes))
        } catch {
          throw new ExecSessionError('the agent sent a claim frame that is not JSON')
        }
      }
      if (head.type === 'lease-end') {
        // The agent ends a lease (execute/1.2.0): no output frame follows.
        this.onLeaseEnd?.(claimBytes)
        continue
      }
      const awardId = head.body?.awardId
      const outputBytes = head.body?.outcome === 'success' ? (await this.lp.read()).subarray() : undefined
      const waiter = typeof awardId === 'string' ? this.waiters.get(awardId) : undefined
      // A reply nobody waits for (its attempt already timed out) is dropped.
      waiter?.resolve(strict ? { claimBytes, claim: head, outputBytes } : { claimBytes, outputBytes })
    }
  }

  private fail (err: Error): void {
    this.failure = new ExecSessionError(`execution stream ended: ${err.message}`)
    for (const waiter of this.waiters.values()) waiter.reject(this.failure)
    this.waiters.clear()
    if (this.stream.status === 'open') this.stream.abort(this.failure)
  }

  close (): void {
    this.fail(new Error('closed by this node'))
  }
}

/** The coordinator's execution sessions, one per agent, opened on first use and replaced when they end. */
export class ExecClient {
  private readonly libp2p: SpecmeshLibp2p
  private readonly sessions = new Map<string, Promise<ExecSession>>()
  private readonly onLeaseEnd: LeaseEndListener | undefined
  /** Per key (a spec): the agents warmFor has warmed and whose session has not ended since. */
  private readonly warmed = new Map<string, Set<string>>()

  constructor (libp2p: SpecmeshLibp2p, options: { onLeaseEnd?: LeaseEndListener } = {}) {
    this.libp2p = libp2p
    this.onLeaseEnd = options.onLeaseEnd
  }

  /**
   * Write one lease frame to the agent over its session (opened if need be);
   * rejects with AgentUnreachableError when no stream could be opened, and
   * LeasesUnsupportedError when the agent's stream predates leases.
   */
  async send (agent: string, addrs: string[] | undefined, frame: Uint8Array, signal: AbortSignal): Promise<void> {
    let session: ExecSession
    try {
      session = await this.session(agent, addrs, frame.byteLength, signal)
    } catch (err) {
      if (signal.aborted) throw err
      throw new AgentUnreachableError(agent, err as Error)
    }
    if (!session.leases) throw new LeasesUnsupportedError(agent, session.protocol)
    await session.send(frame, signal)
  }

  /**
   * Hand the agent the receipt of its attempt (an encoded receipt envelope)
   * over the session the attempt ran on, when that session is still up and
   * speaks execute/1.3.0. Best effort, and never opens a stream: the receipt
   * is also held here and gossiped to the spec's coordinators and followers,
   * and the agent can fetch it by sync.
   */
  deliverReceipt (agent: string, receipt: Uint8Array): void {
    this.sessions.get(agent)?.then(session => {
      if (session.usable && session.receipts) session.send(receipt).catch(() => {})
    }, () => {})
  }

  /** One request to the agent; rejects with AgentUnreachableError when no stream to it could be opened. */
  async exchange (agent: string, addrs: string[] | undefined, award: Envelope<object>, inputBytes: Uint8Array, signal: AbortSignal, cancel?: AbortSignal): Promise<ExecReply> {
    // Only opening a session waits on both signals: an exchange on the open
    // session (every one but the first) needs no combined signal, whose
    // AbortSignal.any costs weak references the collector then tracks.
    const opening = (): AbortSignal => cancel != null ? AbortSignal.any([signal, cancel]) : signal
    let session: ExecSession
    try {
      session = await this.session(agent, addrs, inputBytes.byteLength, opening)
    } catch (err) {
      if (cancel?.aborted === true) throw new ExchangeCancelledError(false)
      if (signal.aborted) throw err
      throw new AgentUnreachableError(agent, err as Error)
    }
    return await session.exchange(award, inputBytes, signal, cancel)
  }

  /**
   * Open the agent's session ahead of its first exchange, if a connection to it is
   * already open and no session is (opening a stream under load took 0.3–2.6 s in
   * bench:cascade, paid by each coordinator's first award). It never dials: a
   * coordinator warms the agents it already talks to, not every advertiser.
   */
  warm (agent: string, timeoutMs = 10_000): boolean {
    if (this.sessions.has(agent)) return true
    let peer
    try { peer = peerIdFromString(agent) } catch { return false }
    if (!this.libp2p.getConnections(peer).some(c => c.status === 'open')) return false
    this.session(agent, undefined, 0, AbortSignal.timeout(timeoutMs)).catch(() => {})
    return true
  }

  /**
   * warm() each of `agents` (those serving the spec `key`) not already warmed
   * for it: a coordinator calls this for every job it publishes, and an agent
   * is looked at again only once its session has ended (or none could open).
   */
  warmFor (key: string, agents: Iterable<string>): void {
    let warmed = this.warmed.get(key)
    if (warmed == null) {
      warmed = new Set()
      this.warmed.set(key, warmed)
    }
    for (const agent of agents) {
      if (!warmed.has(agent) && this.warm(agent)) warmed.add(agent)
    }
  }

  /** The agent's session ended (or never opened): warmFor looks at it again. */
  private cool (agent: string): void {
    for (const warmed of this.warmed.values()) warmed.delete(agent)
  }

  /** The agent's open session, else a new one, opened under `signal` (or the signal it gives, asked for only then). */
  private async session (agent: string, addrs: string[] | undefined, inputBytes: number, signal: AbortSignal | (() => AbortSignal)): Promise<ExecSession> {
    const existing = this.sessions.get(agent)
    let fresh = false
    if (existing != null) {
      const session = await existing.catch(() => undefined)
      if (session?.usable === true && session.fits(inputBytes)) return session
      // A session that no longer fits keeps serving the exchanges already on it
      // until the relay ends it; new ones go over a fresh relayed connection.
      fresh = session?.usable === true
      if (this.sessions.get(agent) === existing) this.sessions.delete(agent)
    }
    const opening = this.open(agent, addrs, fresh, typeof signal === 'function' ? signal() : signal)
    this.sessions.set(agent, opening)
    const ended = (): void => {
      if (this.sessions.get(agent) !== opening) return
      this.sessions.delete(agent)
      this.cool(agent)
    }
    opening.then(async session => { await session.closed; ended() }, ended)
    return await opening
  }

  private async open (agent: string, addrs: string[] | undefined, fresh: boolean, signal: AbortSignal): Promise<ExecSession> {
    const peer = peerIdFromString(agent)
    const open = this.libp2p.getConnections(peer).filter(c => c.status === 'open')
    if (open.length === 0 && addrs != null && addrs.length > 0) {
      // The agent may be several hops away on gossip: its bid said where to dial it
      // (a /p2p-circuit address when it is reachable only through a relay).
      await this.libp2p.peerStore.merge(peer, { multiaddrs: addrs.map(a => multiaddr(a)) }).catch(() => {})
    }
    // An open connection is used as it is, relayed (limited) or direct: libp2p
    // would dial again for a limited one. A direct one is preferred.
    const connection = fresh
      ? await this.libp2p.dial(peer, { signal, force: true })
      : open.find(c => c.limits == null) ?? open[0] ?? await this.libp2p.dial(peer, { signal })
    // Newest first: an agent that only speaks 1.0.0 is still served, without cancel (or lease) frames.
    const stream = await connection.newStream(EXEC_PROTOCOLS, { signal, runOnLimitedConnection: true })
    return new ExecSession(connection, stream, this.onLeaseEnd != null ? frame => { this.onLeaseEnd?.(agent, frame) } : undefined)
  }

  close (): void {
    for (const opening of this.sessions.values()) opening.then(s => { s.close() }, () => {})
    this.sessions.clear()
    this.warmed.clear()
  }
}
