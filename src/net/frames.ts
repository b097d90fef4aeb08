import { byteStream } from '@libp2p/utils'
import type { AbortOptions, Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'

/**
 * Length-prefixed frames for the stream protocols (sync, execution): the
 * multiformats unsigned varint, then that many bytes. One reader for both, so
 * every stream gets the same limits, checked before any byte of a frame body
 * is read:
 *
 * - the length prefix is at most as long as the limit needs, and minimal
 *   (no trailing 0x80 … 0x00 padding: one frame, one spelling);
 * - the length is at most the stream's limit;
 * - once the first byte of a frame has arrived, the whole frame arrives within
 *   `frameTimeoutMs` (a frame that never ends holds nothing for long);
 * - a stream that ends inside a frame is truncated, not a short frame.
 *
 * Any of these resets the stream at once (FrameError), so what a hostile peer
 * sends after a bad prefix is never read, and the library's read buffer is
 * capped near one frame. Frame *types* are the protocols' business: this layer
 * only moves bytes, so a new frame type (like the execution stream's cancel)
 * needs nothing here.
 */

export type FrameErrorCode = 'frame-too-long' | 'length-too-long' | 'length-not-minimal' | 'truncated' | 'frame-timeout'

export class FrameError extends Error {
  override name = 'FrameError'
  readonly code: FrameErrorCode
  constructor (code: FrameErrorCode, message: string) {
    super(message)
    this.code = code
  }
}

export interface FramedStreamOptions {
  /** Largest frame body accepted, in bytes. */
  maxFrameBytes: number
  /** How long one frame may take to arrive once its first byte has. */
  frameTimeoutMs: number
  /**
   * Gather the frames written in one event-loop turn into one send (see
   * writeV): one muxer frame, one encryption and one syscall for many
   * requests, at the cost of waiting for the end of the turn. For streams that
   * carry many concurrent exchanges (execution); a stream that writes one
   * frame after another, awaiting each (sync), would only wait a turn per frame.
   * @default false
   */
  coalesce?: boolean
}

/** Bytes of the unsigned varint that encodes `n`. */
export function varintLength (n: number): number {
  let bytes = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    bytes++
  }
  return bytes
}

export function encodeVarint (n: number): Uint8Array {
  const out = new Uint8Array(varintLength(n))
  for (let i = 0; i < out.length; i++) {
    const low = n % 0x80
    n = Math.floor(n / 0x80)
    out[i] = i < out.length - 1 ? low | 0x80 : low
  }
  return out
}

/** `promise`, or the signal's reason once it aborts first. */
async function raceSignal (promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal == null) return await promise
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  try {
    await Promise.race([promise, new Promise<never>((_resolve, reject) => {
      onAbort = () => { reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
    })])
  } finally {
    if (onAbort != null) signal.removeEventListener('abort', onAbort)
  }
}

/** The largest chunk a muxer delivers at once: yamux's initial stream window. */
const MAX_MUXER_MESSAGE_BYTES = 256 * 1024

/** The peer closed its side between two frames (not a framing error: the stream is left as it is). */
export class EndOfStreamError extends Error {
  override name = 'EndOfStreamError'
}

export class FramedStream {
  readonly stream: Stream
  private readonly bytes: ReturnType<typeof byteStream>
  private readonly maxFrameBytes: number
  private readonly maxLengthBytes: number
  private readonly frameTimeoutMs: number
  /** Bytes taken from the stream and not yet returned as a frame. */
  private readonly pending = new Uint8ArrayList()
  private readonly coalesce: boolean
  /** Coalescing: the length prefixes and frames written this turn, and the send that will carry them. */
  private outbox: Uint8Array[] = []
  private outboxSent: PromiseWithResolvers<void> | undefined

  constructor (stream: Stream, options: FramedStreamOptions) {
    this.stream = stream
    this.maxFrameBytes = options.maxFrameBytes
    this.maxLengthBytes = varintLength(options.maxFrameBytes)
    this.frameTimeoutMs = options.frameTimeoutMs
    this.coalesce = options.coalesce ?? false
    // What may wait unread: the frame being read, and the start of the next.
    // Room for a frame being read plus one muxer message (a yamux message is at most its 256 KiB window).
    this.bytes = byteStream(stream, { maxBufferSize: 2 * (options.maxFrameBytes + this.maxLengthBytes) + MAX_MUXER_MESSAGE_BYTES })
    // byteStream buffers whatever arrives and fails the stream past its limit; a
    // reader slower than its peer (sync validates each record before reading the
    // next) pauses the stream instead, which stops the muxer's window updates
    // until it has caught up: backpressure, not an overflow.
    stream.addEventListener('message', () => {
      if (this.buffered() >= options.maxFrameBytes && this.stream.readStatus === 'readable') this.stream.pause()
    })
  }

  /**
   * The next frame. Throws EndOfStreamError when the peer closed its side
   * between frames, and FrameError (after resetting the stream) when it broke
   * the framing; `signal` bounds the wait for a frame to begin.
   */
  async read (options: AbortOptions = {}): Promise<Uint8Array> {
    if (this.pending.byteLength === 0 && !await this.pull(options, false)) throw new EndOfStreamError('the stream ended')
    // Most frames arrive whole with their first byte: taken at once, with no
    // deadline armed (a timer and a signal per frame, pending until it fired:
    // thousands at a few hundred jobs a second, three frames a job).
    let length = this.takeLength()
    if (length != null && this.pending.byteLength >= length) return this.takeFrame(length)
    // The first byte is here: from now on the frame has frameTimeoutMs to arrive whole.
    const deadline = AbortSignal.timeout(this.frameTimeoutMs)
    const within: AbortOptions = { signal: options.signal != null ? AbortSignal.any([options.signal, deadline]) : deadline }
    try {
      while (length == null) {
        await this.pull(within, true)
        length = this.takeLength()
      }
      while (this.pending.byteLength < length) await this.pull(within, true)
      return this.takeFrame(length)
    } catch (err) {
      if (deadline.aborted && !(err instanceof FrameError)) {
        throw this.fail(new FrameError('frame-timeout', `a frame did not arrive whole within ${this.frameTimeoutMs} ms of its first byte`))
      }
      throw err
    }
  }

  private takeFrame (length: number): Uint8Array {
    const frame = this.pending.subarray(0, length)
    this.pending.consume(length)
    return frame
  }

  async write (frame: Uint8Array, options: AbortOptions = {}): Promise<void> {
    await this.writeV([frame], options)
  }

  /**
   * Several frames in one send, never interleaved with another write's. When
   * the stream coalesces, they join the frames of every other write of this
   * event-loop turn, all sent together at its end (in the order written), and
   * this resolves once that send has: frames are only ever merged whole, so
   * the reader sees exactly the frames written. `signal` stops the wait for
   * the send, not the send (as without coalescing: bytes handed to the stream
   * go, its wait for room is what a signal cuts short).
   */
  async writeV (frames: Uint8Array[], options: AbortOptions = {}): Promise<void> {
    if (!this.coalesce) {
      await this.bytes.write(new Uint8ArrayList(...frames.flatMap(frame => [encodeVarint(frame.byteLength), frame])), options)
      return
    }
    options.signal?.throwIfAborted()
    for (const frame of frames) this.outbox.push(encodeVarint(frame.byteLength), frame)
    let sent = this.outboxSent
    if (sent == null) {
      sent = Promise.withResolvers<void>()
      sent.promise.catch(() => {})
      this.outboxSent = sent
      setImmediate(() => { this.sendOutbox() })
    }
    await raceSignal(sent.promise, options.signal)
  }

  private sendOutbox (): void {
    const chunks = this.outbox
    const sent = this.outboxSent
    this.outbox = []
    this.outboxSent = undefined
    if (sent == null) return
    this.bytes.write(new Uint8ArrayList(...chunks)).then(sent.resolve, sent.reject)
  }

  /**
   * The length prefix at the start of `pending`, taken off it; undefined while
   * it has not all arrived. Throws (resetting the stream) on a prefix the
   * limit rules out, as soon as the bytes that show it are here.
   */
  private takeLength (): number | undefined {
    let length = 0
    for (let i = 0; ; i++) {
      if (i >= this.maxLengthBytes) {
        throw this.fail(new FrameError('length-too-long', `length prefix longer than the ${this.maxLengthBytes} bytes the limit of ${this.maxFrameBytes} needs`))
      }
      if (this.pending.byteLength <= i) return undefined
      const byte = this.pending.get(i)
      length += (byte & 0x7f) * 2 ** (7 * i)
      if ((byte & 0x80) !== 0) continue
      if (byte === 0 && i > 0) throw this.fail(new FrameError('length-not-minimal', 'length prefix is not minimal (it ends in a zero byte)'))
      if (length > this.maxFrameBytes) throw this.fail(new FrameError('frame-too-long', `frame of ${length} bytes announced; the limit is ${this.maxFrameBytes}`))
      this.pending.consume(i + 1)
      return length
    }
  }

  /** Bytes byteStream holds that no read has taken yet (its readBuffer exists at run time, not in its type). */
  private buffered (): number {
    return (this.bytes as unknown as { readBuffer: Uint8ArrayList }).readBuffer.byteLength
  }

  /** Move what has arrived into `pending`; false at the end of the stream (a FrameError inside a frame). */
  private async pull (options: AbortOptions, insideFrame: boolean): Promise<boolean> {
    if (this.stream.readStatus === 'paused' && this.buffered() < this.maxFrameBytes) this.stream.resume()
    const chunk = await this.bytes.read(options)
    if (chunk == null) {
      if (insideFrame) throw this.fail(new FrameError('truncated', 'the stream ended inside a frame'))
      return false
    }
    this.pending.append(chunk)
    return true
  }

  private fail (err: FrameError): FrameError {
    this.stream.abort(err)
    return err
  }
}
