import { encodeEnvelope, openEnvelope, type Envelope } from '../wire/envelope.ts'
import { ignore, reject } from '../wire/errors.ts'
import { MAX_MESSAGE_BYTES } from '../wire/constants.ts'
import { validateSpec, specId, isExpired, type Spec } from '../spec/index.ts'
import type { SpecStore } from '../store/spec-store.ts'
import type { StoredSpec } from '../node-types.ts'

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
 * The spec topic's validator, also used for specs that arrive by sync:
 * authenticate, validate as a spec, check the body is already in normal form
 * (so its id is the id every node would compute), then store. The verdict is
 * given once the spec is known valid, so forwarding does not wait for the
 * disk; the spec counts as stored (onStored) when the write has completed.
 */
export function specTopicValidator (deps: SpecTopicDeps): (data: Uint8Array) => Promise<void> {
  const now = deps.now ?? Date.now
  const inFlight = new Set<string>()
  return async (data) => {
    const envelope = openEnvelope(data, { expectType: 'spec', maxBytes: MAX_MESSAGE_BYTES })
    if (inFlight.has(envelope.id) || deps.specs.has(envelope.id)) {
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
    inFlight.add(envelope.id)
    const record = storedSpecFromEnvelope(envelope, checked.spec, now())
    deps.specs.put(record, utf8.decode(data)).then(() => { deps.onStored?.(record) }, err => { deps.onStoreFailed?.(record, err as Error) })
      .finally(() => { inFlight.delete(envelope.id) })
  }
}
