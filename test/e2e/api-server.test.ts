/**
 * The local API server and client, in process, against a FAKE node: a few lines
 * implementing the SpecmeshNode interface over a Map. The real node is tested
 * in test/integration and, through the CLI, in cli.test.ts; here the point is
 * the HTTP layer: auth, limits, status codes, error shapes, api.json handling.
 */
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ApiClient, ApiRequestError, DaemonNotRunningError } from '../../src/api/client.ts'
import { startApiServer, type ApiServer } from '../../src/api/server.ts'
import type { SpecmeshNode, StoredSpec } from '../../src/node-types.ts'

class FakeSpecValidationError extends Error {
  override name = 'SpecValidationError'
  problems: Array<{ path: string, message: string }>
  constructor (problems: Array<{ path: string, message: string }>) {
    super(`invalid spec: ${problems.map(p => `${p.path}: ${p.message}`).join('; ')}`)
    this.problems = problems
  }
}

function fakeNode (home: string): SpecmeshNode & { stopped: boolean } {
  const specs = new Map<string, StoredSpec>()
  const fake = {
    peerId: '12D3KooWFakeFakeFakeFakeFakeFakeFakeFakeFakeFake',
    home,
    stopped: false as boolean,
    multiaddrs: () => ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWFake'],
    peers: () => [{ peerId: '12D3KooWOther', addrs: ['/ip4/127.0.0.1/tcp/4002'] }],
    publishSpec: async (raw: unknown) => {
      const spec = raw as Record<string, unknown>
      if (typeof spec.name !== 'string') throw new FakeSpecValidationError([{ path: 'name', message: 'required' }])
      if (spec.name === 'boom') throw new Error('disk on fire')
      const stored = { id: `fake-${spec.name}`, spec: spec as never, signer: '12D3KooWFake', sig: 'x', receivedAt: 1 }
      specs.set(stored.id, stored)
      return stored
    },
    listSpecs: async () => [...specs.values()],
    getSpec: async (id: string) => specs.get(id) ?? null,
    async stop () { this.stopped = true }
  }
  // Only the members these tests reach; the rest of SpecmeshNode (jobs, receipts, …) is not faked.
  return fake as typeof fake & SpecmeshNode
}

let home: string
let server: ApiServer | undefined

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'specmesh-api-'))
})

afterEach(async () => {
  await server?.close()
  server = undefined
  await rm(home, { recursive: true, force: true })
})

async function raw (path: string, init: RequestInit = {}, token: string | null = server!.token): Promise<{ status: number, body: any, headers: Headers }> {
  const headers = new Headers(init.headers)
  if (token != null) headers.set('authorization', `Bearer ${token}`)
  const res = await fetch(`${server!.url}${path}`, { ...init, headers })
  const text = await res.text()
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers }
}

describe('local API server (fake node)', () => {
  it('listens on 127.0.0.1 only, writes api.json and a 0600 token, removes api.json on close', async () => {
    server = await startApiServer({ node: fakeNode(home), home })
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const info = JSON.parse(await readFile(join(home, 'api.json'), 'utf8'))
    expect(info).toEqual({ url: server.url, pid: process.pid, peerId: '12D3KooWFakeFakeFakeFakeFakeFakeFakeFakeFakeFake' })
    const token = (await readFile(join(home, 'api-token'), 'utf8')).trim()
    expect(token).toMatch(/^[0-9a-f]{64}$/)
    expect(token).toBe(server.token)
    expect((await stat(join(home, 'api-token'))).mode & 0o777).toBe(0o600)
    await server.close()
    await expect(stat(join(home, 'api.json'))).rejects.toThrow(/ENOENT/)
    server = undefined
  })

  it('keeps an existing token and tightens its mode', async () => {
    await writeFile(join(home, 'api-token'), 'a'.repeat(64) + '\n', { mode: 0o644 })
    await chmod(join(home, 'api-token'), 0o644)
    server = await startApiServer({ node: fakeNode(home), home })
    expect(server.token).toBe('a'.repeat(64))
    expect((await stat(join(home, 'api-token'))).mode & 0o777).toBe(0o600)
  })

  it('answers 401 with a JSON error without the right bearer token', async () => {
    server = await startApiServer({ node: fakeNode(home), home })
    for (const token of [null, 'wrong', `${server.token}x`]) {
      const res = await raw('/v1/id', {}, token)
      expect(res.status).toBe(401)
      expect(res.body.error.code).toBe('unauthorized')
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
    }
    // Even unknown routes need the token: nothing is revealed without it.
    expect((await raw('/nope', {}, null)).status).toBe(401)
  })

  it('serves id, peers and specs', async () => {
    server = await startApiServer({ node: fakeNode(home), home })
    expect((await raw('/v1/id')).body).toEqual({ peerId: '12D3KooWFakeFakeFakeFakeFakeFakeFakeFakeFakeFake', multiaddrs: ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWFake'], api: server.url })
    expect((await raw('/v1/peers')).body).toEqual([{ peerId: '12D3KooWOther', addrs: ['/ip4/127.0.0.1/tcp/4002'] }])
    const created = await raw('/v1/specs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'extract' }) })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ id: 'fake-extract', spec: { name: 'extract' }, signer: '12D3KooWFake' })
    expect((await raw('/v1/specs')).body).toHaveLength(1)
    expect((await raw('/v1/specs/fake-extract')).body.id).toBe('fake-extract')
  })

  it('maps failures to status codes with one error shape', async () => {
    server = await startApiServer({ node: fakeNode(home), home })
    const json = { 'content-type': 'application/json' }
    const invalid = await raw('/v1/specs', { method: 'POST', headers: json, body: JSON.stringify({ version: '1' }) })
    expect(invalid.status).toBe(400)
    expect(invalid.body.error).toMatchObject({ code: 'invalid_spec', problems: [{ path: 'name', message: 'required' }] })

    const badJson = await raw('/v1/specs', { method: 'POST', headers: json, body: '{"name":' })
    expect(badJson.status).toBe(400)
    expect(badJson.body.error.code).toBe('invalid_json')

    const notObject = await raw('/v1/specs', { method: 'POST', headers: json, body: '[1,2]' })
    expect(notObject.status).toBe(400)

    const empty = await raw('/v1/specs', { method: 'POST' })
    expect(empty.status).toBe(400)

    const wrongType = await raw('/v1/specs', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })
    expect(wrongType.status).toBe(415)

    const missing = await raw('/v1/specs/nope')
    expect(missing.status).toBe(404)
    expect(missing.body.error).toEqual({ code: 'not_found', message: 'this node holds no spec named "nope"; publish it first (specmesh spec publish FILE), or write its id' })

    expect((await raw('/v1/nothing-here')).status).toBe(404)

    const method = await raw('/v1/specs', { method: 'DELETE' })
    expect(method.status).toBe(405)
    expect(method.headers.get('allow')).toBe('POST, GET')

    const internal = await raw('/v1/specs', { method: 'POST', headers: json, body: JSON.stringify({ name: 'boom' }) })
    expect(internal.status).toBe(500)
    expect(internal.body.error.code).toBe('internal')
  })

  it('refuses a body over the limit with 413', async () => {
    server = await startApiServer({ node: fakeNode(home), home, maxBodyBytes: 1024 })
    const big = JSON.stringify({ name: 'x', pad: 'y'.repeat(4096) })
    const res = await raw('/v1/specs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: big })
    expect(res.status).toBe(413)
    expect(res.body.error.code).toBe('payload_too_large')
    // Still serving afterwards.
    expect((await raw('/v1/id')).status).toBe(200)
  })

  it('refuses 2 MiB + 1 by default', async () => {
    server = await startApiServer({ node: fakeNode(home), home })
    const res = await raw('/v1/specs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: `"${'z'.repeat(2 * 1024 * 1024)}"` })
    expect(res.status).toBe(413)
  })

  it('the client finds the server through the home and maps errors', async () => {
    server = await startApiServer({ node: fakeNode(home), home })
    const client = new ApiClient({ home })
    expect((await client.id()).api).toBe(server.url)
    const stored = await client.publishSpec({ name: 'a' })
    expect(await client.getSpec(stored.id)).toEqual(stored)
    await expect(client.getSpec('nope')).rejects.toMatchObject({ name: 'ApiRequestError', status: 404, code: 'not_found' })
    const err = await client.publishSpec({}).catch(e => e)
    expect(err).toBeInstanceOf(ApiRequestError)
    expect(err.problems).toEqual([{ path: 'name', message: 'required' }])
  })

  it('the client says no daemon runs when api.json is missing or stale', async () => {
    const noInfo = await new ApiClient({ home }).id().catch(e => e)
    expect(noInfo).toBeInstanceOf(DaemonNotRunningError)
    expect(noInfo.message).toBe(`no daemon is running for ${home}; start one with: specmesh daemon --home ${home}`)

    // A daemon killed with -9 leaves api.json behind, pointing at a closed port.
    server = await startApiServer({ node: fakeNode(home), home })
    const info = await readFile(join(home, 'api.json'), 'utf8')
    await server.close()
    server = undefined
    await writeFile(join(home, 'api.json'), info)
    await expect(new ApiClient({ home }).id()).rejects.toBeInstanceOf(DaemonNotRunningError)
  })

  it('fails clearly when the API port is taken', async () => {
    server = await startApiServer({ node: fakeNode(home), home })
    const other = await mkdtemp(join(tmpdir(), 'specmesh-api-'))
    try {
      await expect(startApiServer({ node: fakeNode(other), home: other, port: server.port })).rejects.toThrow(/already in use/)
    } finally {
      await rm(other, { recursive: true, force: true })
    }
  })
})
