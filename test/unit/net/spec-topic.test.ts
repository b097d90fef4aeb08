import { describe, expect, it } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signerFromPrivateKey } from '../../../src/crypto/signatures.ts'
import { encodeEnvelope, seal } from '../../../src/wire/envelope.ts'
import { RELAY_OWED_MAX, RELAY_OWED_MS, specValidators } from '../../../src/net/spec-topic.ts'
import type { SpecStore } from '../../../src/store/spec-store.ts'
import type { StoredSpec } from '../../../src/node-types.ts'
import { normalizedSample } from '../../helpers/specs.ts'

/**
 * A spec a node got only by sync must still travel on by gossip: its first gossip
 * copy is forwarded (accepted), not Ignored as a duplicate; every later copy, and
 * any copy of a spec that came by gossip, is a duplicate as before.
 */
const privateKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(9))
const signer = signerFromPrivateKey(privateKey, peerIdFromPrivateKey(privateKey).toString())
const bytesOf = (name: string): Uint8Array => encodeEnvelope(seal('spec', normalizedSample(name), signer))

function world () {
  const stored = new Map<string, StoredSpec>()
  const specs = {
    has: (id: string) => stored.has(id),
    put: async (record: StoredSpec) => { stored.set(record.id, record) }
  } as unknown as SpecStore
  let now = Date.now()
  const validators = specValidators({ specs, now: () => now })
  return { stored, validators, later: (ms: number) => { now += ms } }
}

const duplicate = { action: 'ignore', code: 'duplicate' }

describe('spec validators: gossip and fetched', () => {
  it('forwards the first gossip copy of a spec it got by sync, once, and stores nothing again', async () => {
    const { stored, validators } = world()
    const spec = bytesOf('synced')
    await validators.fetched(spec)
    expect(stored.size).toBe(1)
    const record = [...stored.values()][0]
    await validators.gossip(spec)
    expect([...stored.values()][0]).toBe(record)
    await expect(validators.gossip(spec)).rejects.toMatchObject(duplicate)
    await expect(validators.fetched(spec)).rejects.toMatchObject(duplicate)
  })

  it('Ignores every other copy: of a spec that came by gossip, a second sync of it, a gossip copy after the window', async () => {
    const { validators, later } = world()
    const gossiped = bytesOf('gossiped')
    await validators.gossip(gossiped)
    await expect(validators.gossip(gossiped)).rejects.toMatchObject(duplicate)
    await expect(validators.fetched(gossiped)).rejects.toMatchObject(duplicate)

    const late = bytesOf('late')
    await validators.fetched(late)
    later(RELAY_OWED_MS + 1)
    await expect(validators.gossip(late)).rejects.toMatchObject(duplicate)
  })

  it(`remembers at most ${RELAY_OWED_MAX} owed specs: one fetch more, and the oldest one's gossip copy is a duplicate again`, async () => {
    const { validators } = world()
    const fetched = Array.from({ length: RELAY_OWED_MAX + 1 }, (_, i) => bytesOf(`owed-${i}`))
    for (const spec of fetched) await validators.fetched(spec)
    await expect(validators.gossip(fetched[0]!)).rejects.toMatchObject(duplicate)
    await validators.gossip(fetched[1]!)
    await validators.gossip(fetched[RELAY_OWED_MAX]!)
  })

  it('checks the gossip copy of a synced spec like any other: a forged one is Rejected, not forwarded', async () => {
    const { validators } = world()
    const spec = bytesOf('forged-copy')
    await validators.fetched(spec)
    const text = new TextDecoder().decode(spec)
    const sig = (JSON.parse(text) as { sig: string }).sig
    const forged = text.replace(sig, (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1))
    await expect(validators.gossip(new TextEncoder().encode(forged))).rejects.toMatchObject({ action: 'reject' })
    // The genuine copy is still owed.
    await validators.gossip(spec)
  })
})
