/**
 * The operator's view of a running node, through real processes: `specmesh
 * status`, GET /metrics scraped and parsed as Prometheus text, paging of the
 * list routes and commands, and ids typed as prefixes or spec names.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { killSpawned, removeTempHomes, runCli, runJson } from '../helpers/cli.ts'
import { meshWithJobs, SPEC_NAME, type MeshWithJobs } from '../helpers/mesh-with-jobs.ts'
import { sampleSpec } from '../helpers/specs.ts'

let mesh: MeshWithJobs
let token: string

beforeAll(async () => {
  mesh = await meshWithJobs({ succeed: 2, fail: 1 })
  token = (await readFile(join(mesh.daemon.home, 'api-token'), 'utf8')).trim()
}, 120_000)

afterAll(async () => {
  await killSpawned()
  await removeTempHomes()
})

async function get (path: string, auth = true): Promise<Response> {
  return await fetch(`${mesh.daemon.api.url}${path}`, { headers: auth ? { authorization: `Bearer ${token}` } : {} })
}

interface Sample { name: string, labels: Record<string, string>, value: number }

/** The Prometheus text exposition format, as a scraper reads it: one sample per line, # lines are metadata. */
function parsePrometheus (text: string): { samples: Sample[], types: Map<string, string> } {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ')
      types.set(name!, type!)
      continue
    }
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match == null) throw new Error(`not a Prometheus sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, k, v] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!
    samples.push({ name: match[1]!, labels, value: Number(match[3]) })
  }
  return { samples, types }
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined =>
  samples.find(s => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value

describe('operating a node', () => {
  it('specmesh status shows peers, specs, jobs by state and the last errors', async () => {
    const status = await runJson(['status', '--home', mesh.daemon.home])
    expect(status.peers.peerIds).toContain(mesh.agent.peerId)
    expect(status.specs.held).toBe(1)
    expect(status.jobs).toMatchObject({ total: 3, inFlight: {}, byStatus: { succeeded: 2, failed: 1 } })
    // The three jobs ended moments ago (in beforeAll).
    expect(status.jobs.finishedLastMinute).toBe(3)
    expect(status.lastErrors[0]).toMatchObject({ kind: 'job', ref: mesh.failed[0] })
    const failed = await runJson(['job', 'status', mesh.failed[0]!, '--home', mesh.daemon.home])
    expect(status.lastErrors[0].message).toBe(failed.reason)
    expect(status.metrics).toBe(true)
    // The daemon runs the libsodium backend: its addon ships prebuilt for this platform.
    expect(status.ed25519).toEqual({ backend: 'sodium-native' })

    const text = await runCli(['status', '--home', mesh.daemon.home])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/^peers {5}1 \(…/m)
    expect(text.stdout).toMatch(/^jobs {6}in flight: none; all 3: 2 succeeded, 1 failed$/m)
    expect(text.stdout).toContain(mesh.failed[0])
    expect(text.stdout).toMatch(/^ed25519 {3}sodium-native$/m)
  })

  it('GET /metrics serves Prometheus text that a scraper parses, with the token only', async () => {
    expect((await get('/metrics', false)).status).toBe(401)
    const res = await get('/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const { samples, types } = parsePrometheus(await res.text())
    expect(value(samples, 'specmesh_jobs_total', { outcome: 'succeeded' })).toBe(2)
    expect(value(samples, 'specmesh_jobs_total', { outcome: 'failed' })).toBe(1)
    expect(types.get('specmesh_job_duration_seconds')).toBe('histogram')
    expect(value(samples, 'specmesh_job_duration_seconds_count', { outcome: 'succeeded' })).toBe(2)
    expect(value(samples, 'specmesh_attempt_duration_seconds_count', { outcome: 'success' })).toBe(2)
    expect(value(samples, 'specmesh_attempt_duration_seconds_bucket', { outcome: 'success', le: '+Inf' })).toBe(2)
    expect(value(samples, 'specmesh_bids_received_total')).toBeGreaterThanOrEqual(2)
    expect(value(samples, 'specmesh_peers')).toBe(1)
    expect(value(samples, 'specmesh_specs_held')).toBe(1)
    expect(value(samples, 'specmesh_jobs_in_flight')).toBe(0)
    expect(value(samples, 'specmesh_coordinator_queue_depth', { queue: 'executing' })).toBe(0)
    // Gossip verdicts by topic: the agent's bids and capacity adverts were accepted here.
    const accepted = samples.filter(s => s.name === 'specmesh_gossip_verdicts_total' && s.labels.verdict === 'accept')
    expect(accepted.length).toBeGreaterThan(0)
    expect(accepted.every(s => s.labels.topic !== '' && s.value > 0)).toBe(true)
    // libp2p's own metrics, from @libp2p/prometheus-metrics, in the same registry.
    expect(samples.some(s => s.name.startsWith('libp2p_'))).toBe(true)
  })

  it('every list pages with limit and cursor, and the CLI says how to get the next page', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${mesh.daemon.api.url}/v1/specs`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(sampleSpec(`paged-${i}`, { deadline: '5m' })) })
      expect(res.status).toBe(201)
    }
    // Five specs, two a page: three pages, each id once, in id order.
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const res = await get(`/v1/specs?limit=2${cursor != null ? `&cursor=${cursor}` : ''}`)
      expect(res.status).toBe(200)
      seen.push(...(await res.json() as Array<{ id: string }>).map(s => s.id))
      cursor = res.headers.get('x-next-cursor')
      pages++
    } while (cursor != null && pages < 10)
    expect(pages).toBe(3)
    expect(seen).toHaveLength(5)
    expect([...seen].sort()).toEqual(seen)
    expect(new Set(seen).size).toBe(5)

    const bad = await get('/v1/specs?limit=0')
    expect(bad.status).toBe(400)
    expect((await bad.json()).error.problems[0].path).toBe('limit')
    expect((await get('/v1/specs?cursor=garbage!')).status).toBe(400)

    // Jobs, receipts and the ledger page newest first; the next page holds older ones.
    const newest = await get('/v1/jobs?limit=1')
    const [last] = await newest.json() as Array<{ jobId: string }>
    expect(last!.jobId).toBe(mesh.failed[0])
    const older = await get(`/v1/jobs?limit=5&cursor=${newest.headers.get('x-next-cursor')}`)
    expect((await older.json() as Array<{ jobId: string }>).map(j => j.jobId)).toEqual(mesh.succeeded)
    expect(older.headers.get('x-next-cursor')).toBeNull()
    const rated = await get('/v1/reputation?limit=1')
    expect((await rated.json()).agents).toHaveLength(1)
    for (const path of ['/v1/receipts?limit=1', '/v1/ledger?limit=1']) {
      const res = await get(path)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('x-next-cursor'), path).not.toBeNull()
    }
    expect((await get('/v1/workflows?limit=1')).status).toBe(200)

    const cli = await runCli(['spec', 'list', '--limit', '2', '--home', mesh.daemon.home])
    expect(cli.code).toBe(0)
    expect(cli.stdout.trim().split('\n')).toHaveLength(3) // header and two rows
    const more = /^more: (specmesh spec list .*)$/m.exec(cli.stderr)
    expect(more, cli.stderr).not.toBeNull()
    const next = more![1]!.split(' ').slice(1)
    const second = await runJson([...next, '--json'])
    expect(second.map((s: { id: string }) => s.id)).toEqual(seen.slice(2, 4))

    const jobs = await runJson(['job', 'list', '--status', 'failed', '--home', mesh.daemon.home])
    expect(jobs.map((j: { jobId: string }) => j.jobId)).toEqual(mesh.failed)
    const bySpec = await runJson(['job', 'list', '--spec', SPEC_NAME, '--agent', mesh.agent.peerId, '--home', mesh.daemon.home])
    expect(bySpec.map((j: { jobId: string }) => j.jobId)).toEqual(mesh.succeeded)
  })

  it('ids: a unique prefix or a spec name does; an ambiguous prefix lists the matches', async () => {
    const jobId = mesh.succeeded[0]!
    const unique = await uniquePrefix(jobId, [...mesh.succeeded, ...mesh.failed])
    const status = await runJson(['job', 'status', unique, '--home', mesh.daemon.home])
    expect(status.jobId).toBe(jobId)

    const byName = await runJson(['spec', 'show', SPEC_NAME, '--home', mesh.daemon.home])
    expect(byName.id).toBe(mesh.specId)
    const byVersion = await runJson(['spec', 'stats', `${SPEC_NAME}@1.0.0`, '--home', mesh.daemon.home])
    expect(byVersion.specId).toBe(mesh.specId)

    const receipts = await runJson(['receipts', '--job', unique, '--home', mesh.daemon.home])
    expect(receipts.length).toBeGreaterThanOrEqual(1)
    expect(receipts.every((r: { envelope: { body: { jobId: string } } }) => r.envelope.body.jobId === jobId)).toBe(true)
    const receiptId: string = receipts[receipts.length - 1].id
    const verified = await runJson(['receipt', 'verify', receiptId.slice(0, 40), '--home', mesh.daemon.home])
    expect(verified.receiptId).toBe(receiptId)

    // Every id starts "bagaaiera": that prefix fits all three jobs.
    const ambiguous = await runCli(['job', 'status', 'bagaaiera', '--home', mesh.daemon.home])
    expect(ambiguous.code).not.toBe(0)
    expect(ambiguous.stderr).toContain('"bagaaiera" is the start of 3 job ids')
    for (const id of [...mesh.succeeded, ...mesh.failed]) expect(ambiguous.stderr).toContain(id)
    const res = await get('/v1/jobs/bagaaiera')
    expect(res.status).toBe(409)
    expect((await res.json()).error).toMatchObject({ code: 'ambiguous_id', matches: expect.arrayContaining(mesh.failed) })

    const unknown = await runCli(['spec', 'show', 'no-such-spec', '--home', mesh.daemon.home])
    expect(unknown.code).not.toBe(0)
    expect(unknown.stderr).toContain('this node holds no spec named "no-such-spec"')
  })

  it('the receipts table names the spec of each receipt, also a spec past the first page of GET /v1/specs', async () => {
    // Specs whose ids sort before the mesh's push it off the first page (DEFAULT_PAGE_LIMIT specs, in id order).
    const { specId, validateSpec } = await import('../../src/spec/index.ts')
    const { DEFAULT_PAGE_LIMIT } = await import('../../src/api/paging.ts')
    const before: Array<Record<string, unknown>> = []
    for (let i = 0; i < 100_000 && before.length < DEFAULT_PAGE_LIMIT; i++) {
      const raw = sampleSpec(`filler-${i}`, { deadline: '5m' })
      const checked = validateSpec(raw)
      if (checked.ok && specId(checked.spec) < mesh.specId) before.push(raw)
    }
    expect(before).toHaveLength(DEFAULT_PAGE_LIMIT)
    for (const raw of before) {
      const res = await fetch(`${mesh.daemon.api.url}/v1/specs`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(raw) })
      expect(res.status).toBe(201)
    }
    const firstPage = await (await get('/v1/specs')).json() as Array<{ id: string }>
    expect(firstPage.map(s => s.id)).not.toContain(mesh.specId)

    const table = await runCli(['receipts', '--home', mesh.daemon.home])
    expect(table.code).toBe(0)
    const rows = table.stdout.split('\n').slice(1).filter(line => line.trim() !== '')
    expect(rows.length).toBeGreaterThanOrEqual(2)
    expect(rows.map(row => row.split(/\s+/)[1])).toEqual(rows.map(() => SPEC_NAME))
  })
})

/** The shortest prefix of `id` that no other id shares. */
async function uniquePrefix (id: string, all: string[]): Promise<string> {
  for (let n = 10; n <= id.length; n++) {
    const prefix = id.slice(0, n)
    if (all.filter(other => other.startsWith(prefix)).length === 1) return prefix
  }
  return id
}
