import { encodeEnvelope, openEnvelope, type Envelope } from '../wire/envelope.ts'
import { ignore, reject } from '../wire/errors.ts'
import { MAX_MESSAGE_BYTES } from '../wire/constants.ts'
import { validateSpec, specId, isExpired, type Spec } from '../spec/index.ts'
import type { SpecStore } from '../store/spec-store.ts'
import type { StoredSpec } from '../node-types.ts'
import { ExpiringMemory } from '../market/expiring-memory.ts'

export interface SpecTopicDeps {
  specs: SpecStore
  now?: () => number
  /** Called once for each spec newly stored. */
  onStored?: (record: StoredSpec) => void
  /** Called when a valid spec could not be written (a disk problem of ours, not the sender's). */
  onStoreFailed?: (record: StoredSpec, err: Error) => void
}

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true })
const encoder = new TextEncoder()

export function storedSpecFromEnvelope (envelope: Envelope, spec: Spec, receivedAt: number): StoredSpec {
  return { id: envelope.id, spec, signer: envelope.signer, sig: envelope.sig, receivedAt }
}

/**
 * The bytes sync serves for a stored spec: the ones it arrived in when the
 * store kept them; otherwise (a spec this node signed, or one stored by an
 * older version) its encoding, which is what this node gossips.
 */
export async function bytesOfStoredSpec (specs: SpecStore, record: StoredSpec): Promise<Uint8Array> {
  const text = await specs.envelopeText(record.id)
  return text != null ? encoder.encode(text) : encodeEnvelope(envelopeOfStoredSpec(record))
}

export function envelopeOfStoredSpec (record: StoredSpec): Envelope {
  return { type: 'spec', v: 1, id: record.id, body: record.spec as unknown as Record<string, unknown>, signer: record.signer, sig: record.sig }
}

/**
 * How long a spec stored from a fetch (sync, spec discovery) stays owed to the
 * spec topic: its gossip copy, arriving within this, is forwarded once instead of
 * Ignored as a duplicate. gossipsub's own duplicate window (seenTTL) is 2 minutes;
 * a copy still in a peer's message cache arrives within seconds.
 */
export const RELAY_OWED_MS = 120_000
/** At most this many owed specs are remembered (a late joiner's sync may bring thousands); past it the oldest go. */
export const RELAY_OWED_MAX = 1024

export interface SpecValidators {
  /** The spec topic's validator. */
  gossip: (data: Uint8Array) => Promise<void>
  /** For a spec that came by sync or a spec fetch: the same checks and the same store, and no forwarding to owe. */
  fetched: (data: Uint8Array) => Promise<void>
}

/**
 * The spec validators, for the spec topic and for specs that arrive by sync or
 * a spec fetch: authenticate, validate as a spec, check the body is already in
 * normal form (so its id is the id every node would compute), then store. The
 * verdict is given once the spec is known valid, so forwarding does not wait
 * for the disk; the spec counts as stored (onStored) when the write has
 * completed.
 *
 * A spec already held is a duplicate (Ignored, not forwarded), with one
 * exception: the first gossip copy of a spec this node got only by a fetch is
 * accepted and so forwarded to its mesh. Otherwise a spec stops at a node that
 * synced it: a coordinator that publishes the moment it connects reaches a peer
 * whose subscription it has not heard yet only through that peer's sync and the
 * mesh catch-up's IHAVE (src/net/mesh-catch-up.ts); when the sync wins, the
 * gossip copy was Ignored and the peer's other neighbours never heard of the spec
 * until their own next sync (a connection-budget test saw an agent wait past 10 s).
 */
export function specValidators (deps: SpecTopicDeps): SpecValidators {
  const now = deps.now ?? Date.now
  const inFlight = new Set<string>()
  const owed = new OwedRelays(RELAY_OWED_MAX)
  const validate = async (data: Uint8Array, via: 'gossip' | 'fetch'): Promise<void> => {
    const envelope = openEnvelope(data, { expectType: 'spec', maxBytes: MAX_MESSAGE_BYTES })
    const held = inFlight.has(envelope.id) || deps.specs.has(envelope.id)
    const relay = held && via === 'gossip' && owed.owes(envelope.id, now())
    if (held && !relay) {
      throw ignore('duplicate', `spec ${envelope.id} is already stored`)
    }
    const checked = validateSpec(envelope.body, { requireFutureDeadline: false })
    if (!checked.ok) {
      const first = checked.problems[0]
      throw reject('bad-spec', `spec is invalid: ${first?.path}: ${first?.message}`)
    }
    if (specId(checked.spec) !== envelope.id) {
      throw reject('not-normal-form', 'spec body is not in normal form: its normalised id differs from its content id')
    }
    if (isExpired(checked.spec, now())) {
      throw ignore('expired', `spec ${envelope.id} is past its deadline`)
    }
    if (relay) {
      // Valid, held, and never forwarded by us: accepted (forwarded) once, nothing stored again.
      owed.settle(envelope.id)
      return
    }
    inFlight.add(envelope.id)
    if (via === 'fetch') owed.add(envelope.id, now() + RELAY_OWED_MS, now())
    const record = storedSpecFromEnvelope(envelope, checked.spec, now())
    deps.specs.put(record, utf8.decode(data)).then(() => { deps.onStored?.(record) }, err => { deps.onStoreFailed?.(record, err as Error) })
      .finally(() => { inFlight.delete(envelope.id) })
  }
  return {
    gossip: async data => { await validate(data, 'gossip') },
    fetched: async data => { await validate(data, 'fetch') }
  }
}

/** The spec topic's validator alone (specValidators().gossip). */
export function specTopicValidator (deps: SpecTopicDeps): (data: Uint8Array) => Promise<void> {
  return specValidators(deps).gossip
}

/** Specs stored from a fetch whose gossip copy this node has not forwarded yet, each until a time. */
class OwedRelays extends ExpiringMemory<number> {
  constructor (limit: number) {
    super(limit, until => until)
  }

  add (id: string, until: number, now: number): void {
    this.remember(id, until, now)
  }

  owes (id: string, now: number): boolean {
    const until = this.get(id)
    return until != null && until >= now
  }

  settle (id: string): void {
    this.forget(id)
  }
}
