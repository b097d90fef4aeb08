import { afterEach, describe, expect, it } from 'vitest'
import { chmod, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createNode, type Node } from '../../src/node.ts'
import { openDb } from '../../src/store/db.ts'
import { homePaths } from '../../src/store/home.ts'
import { JobStore, type JobRecord } from '../../src/store/job-store.ts'
import { LedgerStore, applyEntry, newJobLedger } from '../../src/store/ledger-store.ts'
import { tempHome } from '../helpers/mesh.ts'

let node: Node | undefined
let home = ''
afterEach(async () => {
  await node?.stop()
  node = undefined
  await rm(home, { recursive: true, force: true })
})

/**
 * A fresh home (its first start creates the folder and identity) left as a
 * kill -9 mid-attempt leaves it: a running job whose attempt 1 (award
 * `awardId`) holds a reservation and has no receipt.
 */
async function leaveInterruptedJob (jobId: string, awardId: string): Promise<JobRecord> {
  home = await tempHome()
  await (await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'] })).stop()
  const db = await openDb(homePaths(home).db)
  const record: JobRecord = {
    jobId, specId: 'bagaaieraspec', specName: 'demo', status: 'running', submittedAt: 1, deadline: 2,
    maxUsd: 0.5, inputHash: 'a'.repeat(64), costUsd: 0, attempts: [{ attempt: 1, agent: '12D3KooWagent', bidId: 'b', awardId, priceUsd: 0.2 }]
  }
  const ledger = applyEntry(newJobLedger(record.jobId, record.specId, 0.5), { at: 1, kind: 'reserve', attempt: 1, awardId, agent: '12D3KooWagent', priceUsd: 0.2, feeUsd: 0 })
  await new JobStore(db).save(record, { with: [new LedgerStore(db).operation(ledger)] })
  await db.close()
  return record
}

describe('a node that stopped in the middle of a job', () => {
  it('closes the job as interrupted at its next start and releases the money reserved for it', async () => {
    const record = await leaveInterruptedJob('bagaaierajobinterrupted', 'aw')

    node = await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'] })
    const job = await node.getJob(record.jobId)
    expect(job?.status).toBe('failed')
    expect(job?.reason).toMatch(/interrupted: the node stopped while the job was running/)
    expect(job?.attempts[0]?.outcome).toBe('error')
    const after = (await node.ledger()).jobs.find(j => j.jobId === record.jobId)!
    expect(after).toMatchObject({ reservedUsd: 0, spentUsd: 0 })
    expect(after.entries.map(e => e.kind)).toEqual(['reserve', 'release'])
  })
})

describe('a node that cannot start', () => {
  it('fails on a bad config.json with the entry named, and leaves its data folder free for the next start', async () => {
    home = await tempHome()
    await writeFile(join(home, 'config.json'), JSON.stringify({ trustedPeers: ['not-a-peer-id'] }))
    await expect(createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'] })).rejects.toThrow(/not-a-peer-id/)
    // Nothing was left open: once the file is fixed, the same folder starts.
    await writeFile(join(home, 'config.json'), JSON.stringify({ trustedPeers: [] }))
    node = await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'] })
    expect(node.peerId).toMatch(/^12D3KooW/)
  })
})

describe('the data folder and what a restart releases', () => {
  it('tightens a data folder the user created 0755 to 0700 at start', async () => {
    home = await tempHome()
    await chmod(home, 0o755)
    node = await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'] })
    expect((await stat(home)).mode & 0o777).toBe(0o700)
  })

  it('names what justifies a restart release: the interruption of the attempt, since no receipt exists for it', async () => {
    const record = await leaveInterruptedJob('bagaaierajobkilled', 'aw1')

    node = await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'] })
    const entries = (await node.ledger()).jobs.find(j => j.jobId === record.jobId)!.entries
    const release = entries.find(e => e.kind === 'release')!
    expect(release.receiptId).toBeUndefined()
    expect(release.justification).toMatch(/^interrupted: the node stopped while attempt 1 \(award aw1\) was in flight; no receipt was signed for it/)
  })
})
