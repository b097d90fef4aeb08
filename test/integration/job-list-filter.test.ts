/**
 * GET /v1/jobs?status= on a real node and API server: a value that is no job
 * status is a 400 naming the field and the statuses there are (it used to
 * match nothing and answer an empty list, as if the node had no such jobs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startApiServer, type ApiServer } from '../../src/api/server.ts'
import { startNode, stopAll, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'

let node: TestNode
let api: ApiServer

beforeAll(async () => {
  node = await startNode()
  api = await startApiServer({ node, writeInfo: false })
  // One failed job (no agent anywhere), so that a right filter has something to find.
  const { id } = await node.publishSpec(sampleSpec('job-list-filter'))
  await node.submitJob(id, { text: 'nobody serves this' }, { bidWindowMs: 1 })
})

afterAll(async () => {
  await api?.close()
  await stopAll(node == null ? [] : [node])
})

const get = async (path: string): Promise<Response> => await fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${api.token}` } })

describe('GET /v1/jobs?status=', () => {
  it('refuses an unknown status with a 400 naming the field and the allowed values', async () => {
    const res = await get('/v1/jobs?status=bogus')
    expect(res.status).toBe(400)
    const { error } = await res.json()
    expect(error.code).toBe('invalid_request')
    expect(error.message).toContain('"bogus"')
    for (const status of ['bidding', 'running', 'succeeded', 'failed', 'cancelled']) expect(error.message).toContain(status)
    expect(error.problems).toEqual([{ path: 'status', message: expect.stringContaining('"bogus" is not one of') }])
  })

  it('names only the unknown values of a list, and still filters by the known ones', async () => {
    const mixed = await get('/v1/jobs?status=failed,runing')
    expect(mixed.status).toBe(400)
    const { error } = await mixed.json()
    expect(error.message).toContain('"runing"')
    expect(error.message).not.toContain('"failed"')

    const failed = await get('/v1/jobs?status=failed,succeeded')
    expect(failed.status).toBe(200)
    expect((await failed.json() as Array<{ status: string }>).map(j => j.status)).toEqual(['failed'])
    const none = await get('/v1/jobs?status=cancelled')
    expect(await none.json()).toEqual([])
  })
})
