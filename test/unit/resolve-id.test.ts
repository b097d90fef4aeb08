/**
 * Looking a spec up by name, against a real SpecStore on a LevelDB on disk:
 * the lookup goes through the store's name index, so it reads the specs of
 * that name and not every spec (only a failed lookup lists them all, to say
 * which names there are), and the index follows specs stored after it was built.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { StoredSpec } from '../../src/node-types.ts'
import { AmbiguousIdError, resolveRecord, resolveSpec, UnknownIdError, type SpecNode } from '../../src/resolve-id.ts'
import { loadSpecFile, specId, type Spec } from '../../src/spec/index.ts'
import { openDb, type Db } from '../../src/store/db.ts'
import { SpecStore } from '../../src/store/spec-store.ts'

let dir: string
let db: Db
let store: SpecStore
let fullReads: number
let node: SpecNode
let base: Spec

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'specmesh-resolve-'))
  db = await openDb(join(dir, 'db'))
  store = new SpecStore(db)
  await store.load()
  fullReads = 0
  node = {
    getSpec: async id => await store.get(id),
    listSpecs: async page => { if (page == null) fullReads++; return await store.list(page) },
    matchIds: async (_kind, prefix, limit) => await store.idsWithPrefix(prefix, limit),
    specsNamed: async name => await store.named(name)
  }
  base = await loadSpecFile(join(import.meta.dirname, '../../examples/entity-extraction.yaml'))
})

afterEach(async () => {
  await db.close()
  await rm(dir, { recursive: true, force: true })
})

async function put (name: string, version: string): Promise<StoredSpec> {
  const spec = { ...base, name, version }
  const record: StoredSpec = { id: specId(spec), spec, signer: 'test', sig: '', receivedAt: 0 }
  await store.put(record)
  return record
}

describe('resolving a spec by name', () => {
  it('reads only the specs of that name, and follows specs stored later', async () => {
    const v1 = await put('summarize', '1.0')
    const v2 = await put('summarize', '2.0')
    for (let i = 0; i < 20; i++) await put(`other-${i}`, '1.0')

    expect((await resolveSpec(node, 'summarize@2.0')).id).toBe(v2.id)
    expect((await resolveSpec(node, 'summarize@1.0')).id).toBe(v1.id)
    await expect(resolveSpec(node, 'summarize')).rejects.toThrow(AmbiguousIdError)
    const later = await put('translate', '1.0')
    expect((await resolveSpec(node, 'translate')).id).toBe(later.id)
    expect(fullReads).toBe(0)

    // A name nobody holds: the error lists the names there are (the one full read).
    const err = await resolveSpec(node, 'sumarize').catch((e: Error) => e)
    expect(err).toBeInstanceOf(UnknownIdError)
    expect((err as Error).message).toContain('this node holds no spec named "sumarize" (it holds ')
    expect(fullReads).toBe(1)
  })

  it('indexes a spec stored while the index is being built', async () => {
    for (let i = 0; i < 50; i++) await put(`early-${i}`, '1.0')
    const [named, late] = await Promise.all([store.named('late'), put('late', '1.0')])
    // Whether or not the build's read saw it, the index has it once.
    expect(named.length).toBeLessThanOrEqual(1)
    expect((await store.named('late')).map(s => s.id)).toEqual([late.id])
  })
})

describe('resolving a job or receipt id', () => {
  const ids = ['bagaaieraaaa1', 'bagaaieraaaa2', 'bagaaierabbb1']
  const jobs = new Map(ids.map(id => [id, { jobId: id }]))
  const idNode = {
    listJobs: async () => { throw new Error('a prefix is matched through matchIds, never the full list') },
    listReceipts: async () => [],
    matchIds: async (_kind: string, prefix: string, limit: number) => ids.filter(id => id.startsWith(prefix)).slice(0, limit)
  }

  it('reads a full id once and hands back the record; a unique prefix gives its record', async () => {
    const reads: string[] = []
    const get = async (id: string): Promise<{ jobId: string } | null> => { reads.push(id); return jobs.get(id) ?? null }
    expect(await resolveRecord(idNode, 'job', 'bagaaieraaaa2', get)).toEqual({ jobId: 'bagaaieraaaa2' })
    expect(reads).toEqual(['bagaaieraaaa2'])
    expect(await resolveRecord(idNode, 'job', 'bagaaierab', get)).toEqual({ jobId: 'bagaaierabbb1' })
    await expect(resolveRecord(idNode, 'job', 'bagaaieraaaa', get)).rejects.toThrow('"bagaaieraaaa" is the start of 2 job ids: bagaaieraaaa1, bagaaieraaaa2; type more of the id')
    await expect(resolveRecord(idNode, 'job', 'bag', get)).rejects.toThrow('this node has no job whose id is or starts with "bag" (a prefix needs at least 4 characters); see: specmesh job list')
  })
})
