import { describe, expect, it } from 'vitest'
import { sublevel } from '../../../src/store/db.ts'
import { GroupCommit } from '../../../src/store/group-commit.ts'
import { ReceiptStore } from '../../../src/store/receipt-store.ts'
import { encodeEnvelopeOnce, openEnvelope } from '../../../src/wire/envelope.ts'
import { signedReceipts, testKey } from '../../helpers/receipts.ts'
import { tempDbs } from '../../helpers/temp-db.ts'

const openTempDb = tempDbs('receipt-store-')

describe('receipt store', () => {
  it('stores a receipt written around its already encoded text exactly as one encoded from the record, indexes included', async () => {
    const { db } = await openTempDb()
    const [coordinator, agent] = await Promise.all([testKey(1), testKey(2)])
    const [asRecord, asText] = signedReceipts(2, { specId: 'spec-a', coordinator, agent, tag: 'x' })
    const store = new ReceiptStore(db)
    await store.load()
    const commit = new GroupCommit(db)
    const encoded = encodeEnvelopeOnce(asText!.envelope)
    await commit.write([...store.operations(asRecord!), ...store.operations(asText!, encoded.text)])

    // The same bytes either way: what older code wrote and what it reads.
    const raw = sublevel(db, 'receipts')
    expect(await raw.get(asText!.id, { valueEncoding: 'utf8' })).toBe(JSON.stringify(asText))
    expect(await store.get(asText!.id)).toEqual(asText)
    expect((await store.query({ jobId: asText!.envelope.body.jobId })).map(r => r.id)).toEqual([asText!.id])
    expect((await store.query({ agent: agent.peerId })).map(r => r.id).sort()).toEqual([asRecord!.id, asText!.id].sort())
    expect(store.countBySigner(coordinator.peerId)).toBe(2)
    // The bytes that go in the agent's frame and on gossip are the envelope, signature intact.
    expect(openEnvelope(encoded.bytes)).toEqual(asText!.envelope)
  })
})
