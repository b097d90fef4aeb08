import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { MessageValidationError } from '../wire/errors.ts'
import { encodeEnvelope, type Envelope } from '../wire/envelope.ts'
import type { SpecmeshLibp2p } from './libp2p.ts'
import type { ValidationGuard } from './validation-guard.ts'

/**
 * One validator per topic: it authenticates, checks and stores the message, and
 * throws MessageValidationError to Reject or Ignore it. This is the one place
 * that maps those outcomes to gossipsub verdicts.
 */
export type TopicValidator = (data: Uint8Array, from: string) => Promise<void>

export interface GossipEvents {
  onVerdict?: (topic: string, verdict: 'accept' | 'reject' | 'ignore', from: string, reason?: string) => void
}

export class Gossip {
  private readonly libp2p: SpecmeshLibp2p
  private readonly events: GossipEvents
  private readonly guard: ValidationGuard | undefined

  constructor (libp2p: SpecmeshLibp2p, events: GossipEvents = {}, guard?: ValidationGuard) {
    this.libp2p = libp2p
    this.events = events
    this.guard = guard
  }

  handle (topic: string, validate: TopicValidator): void {
    const pubsub = this.libp2p.services.pubsub
    const guard = this.guard
    pubsub.topicValidators.set(topic, async (peer: PeerId, message) => {
      const from = peer.toString()
      // A throttled or graylisted peer's message is dropped before it costs anything.
      if (guard != null && !guard.admit(from, topic)) return TopicValidatorResult.Ignore
      let verdict: 'accept' | 'ignore' | 'reject' = 'ignore'
      try {
        await validate(message.data, from)
        verdict = 'accept'
        this.events.onVerdict?.(topic, 'accept', from)
        return TopicValidatorResult.Accept
      } catch (err) {
        if (err instanceof MessageValidationError) {
          verdict = err.action
          this.events.onVerdict?.(topic, err.action, from, `${err.code}: ${err.message}`)
          return err.action === 'reject' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
        }
        // A bug or an I/O failure on our side is not the sender's fault.
        verdict = 'accept'
        this.events.onVerdict?.(topic, 'ignore', from, `internal: ${(err as Error).message}`)
        return TopicValidatorResult.Ignore
      } finally {
        guard?.finish(from, topic, verdict)
      }
    })
    pubsub.subscribe(topic)
  }

  /** Leave a topic: unsubscribe, and drop its validator (a message still in flight is then accepted unvalidated by nobody: gossipsub only delivers subscribed topics). */
  unhandle (topic: string): void {
    const pubsub = this.libp2p.services.pubsub
    pubsub.unsubscribe(topic)
    pubsub.topicValidators.delete(topic)
  }

  async publish (topic: string, envelope: Envelope<object>): Promise<void> {
    await this.libp2p.services.pubsub.publish(topic, encodeEnvelope(envelope))
  }

  async publishBytes (topic: string, bytes: Uint8Array): Promise<void> {
    await this.libp2p.services.pubsub.publish(topic, bytes)
  }
}
