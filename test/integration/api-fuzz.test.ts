/**
 * Fuzz of the local API on a real node (real LevelDB, real libp2p, real HTTP):
 * job bodies, specs and forks from a seeded generator of hostile JSON. Whatever
 * a client sends, the answer is a 2xx or a 4xx naming what is wrong, never a
 * 500. The seed is printed so a failure can be replayed.
 */
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startApiServer, type ApiServer } from '../../src/api/server.ts'
import { Fuzzer } from '../helpers/fuzz.ts'
import { startNode, stopAll, type TestNode } from '../helpers/mesh.ts'
import { sampleSpec } from '../helpers/specs.ts'

const SEED = Number(process.env.FUZZ_SEED ?? 20261201)
const CASES = 5_000
const CONCURRENCY = 8

let node: TestNode
let api: ApiServer
let specId: string

beforeAll(async () => {
  node = await startNode()
  api = await startApiServer({ node, writeInfo: false })
  specId = (await node.publishSpec(sampleSpec('fuzzed'))).id
})

afterAll(async () => {
  await api?.close()
  await stopAll(node == null ? [] : [node])
})

async function post (path: string, body: Uint8Array): Promise<{ status: number, text: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(`${api.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json', 'content-length': body.byteLength }
    }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** One case: which route, and the bytes sent. */
function nextCase (f: Fuzzer): { path: string, body: Uint8Array } {
  switch (f.int(3)) {
    case 0: {
      // A job body: mostly right-shaped, with hostile values in the input and the options.
      const job: Record<string, unknown> = { specId: f.chance(0.8) ? specId : f.string(), input: f.chance(0.5) ? { text: f.string() } : f.value() }
      if (f.chance(0.3)) job.maxUsd = f.number()
      if (f.chance(0.3)) job.deadline = f.pick([f.string(), f.number()])
      // A valid job still runs to "no agent bid": keep its window short so the fuzz stays quick.
      job.bidWindowMs = f.chance(0.7) ? 1 : f.pick([0, -1, 0.5, 60_001, 1e308, '5', null, f.string()])
      if (f.chance(0.1)) job[f.key()] = f.value()
      return { path: '/v1/jobs', body: f.body(job) }
    }
    case 1: {
      const spec = sampleSpec(`fuzz-${f.int(1_000_000)}`)
      for (let i = f.int(3) + 1; i > 0; i--) {
        const field = f.pick([...Object.keys(spec), f.key()])
        spec[field] = f.chance(0.5) ? f.value() : f.string()
      }
      return { path: '/v1/specs', body: f.body(spec) }
    }
    default: {
      const set: Record<string, unknown> = {}
      for (let i = f.int(3) + 1; i > 0; i--) set[f.pick(['variant', 'description', 'deadline', 'costUsd', 'budget.maxUsd', 'input.properties.text', 'capacity.maxRetries', f.key()])] = f.value()
      return { path: `/v1/specs/${specId}/fork`, body: f.body({ set }) }
    }
  }
}

describe('local API fuzz (real node)', () => {
  it(`answers ${CASES} hostile job bodies, specs and forks without a single 500 (seed ${SEED})`, async () => {
    const f = new Fuzzer(SEED)
    const statuses = new Map<number, number>()
    const fiveHundreds: string[] = []
    const cases = Array.from({ length: CASES }, () => nextCase(f))
    let next = 0
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < cases.length) {
        const c = cases[next++]!
        const res = await post(c.path, c.body)
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        if (res.status >= 500 && fiveHundreds.length < 5) fiveHundreds.push(`${c.path} ${Buffer.from(c.body).toString('utf8').slice(0, 300)} → ${res.text.slice(0, 300)}`)
        // Every 4xx names what is wrong.
        if (res.status >= 400 && res.status < 500) expect(JSON.parse(res.text).error.message).toMatch(/\S/)
      }
    }))
    console.log(`api fuzz seed ${SEED}: ${CASES} cases, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`)
    expect(fiveHundreds).toEqual([])
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(CASES)
    // The generator reaches both sides: some requests are accepted, most refused.
    expect([...statuses.keys()].some(s => s < 300)).toBe(true)
    expect(statuses.get(400) ?? 0).toBeGreaterThan(CASES / 4)
  }, 120_000)
})
