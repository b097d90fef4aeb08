/**
 * End to end through the real command line: every daemon and command here is
 * a child process running bin/specmesh.js on the pinned Node 24, exactly as a
 * user runs it. Each wait polls with its own deadline; nothing sleeps blindly.
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ApiClient } from '../../src/api/client.ts'
import { killSpawned, readApiJson, removeTempHomes, ROOT, runCli, runJson, spawnDaemon, startDaemon, tempHome } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'

const GOOD = join(ROOT, 'test/fixtures/specs/extract-entities.yaml')
const INVALID = join(ROOT, 'test/fixtures/specs/invalid.yaml')
const EXPIRED = join(ROOT, 'test/fixtures/specs/expired.yaml')
const NOT_YAML = join(ROOT, 'test/fixtures/specs/not-yaml.yaml')

afterEach(async () => {
  await killSpawned()
  await removeTempHomes()
})

const exists = async (path: string): Promise<boolean> => await stat(path).then(() => true, () => false)

describe('specmesh without a daemon', () => {
  it('init creates an identity once and is idempotent', async () => {
    const home = await tempHome()
    const first = await runCli(['init', '--home', home])
    expect(first.code).toBe(0)
    expect(first.stdout).toContain(`initialized ${home}`)
    const peerId = /peer id\s+(\S+)/.exec(first.stdout)?.[1]
    expect(peerId).toMatch(/^12D3KooW/)
    expect((await stat(join(home, 'identity.key'))).mode & 0o777).toBe(0o600)

    // The first init chose where the node listens and wrote it down; the second keeps it.
    const { listen } = JSON.parse(await readFile(join(home, 'config.json'), 'utf8')) as { listen: string[] }
    expect(listen[0]).toMatch(/^\/ip4\/0\.0\.0\.0\/tcp\/\d+$/)
    const second = await runJson(['init', '--home', home])
    expect(second).toEqual({ peerId, home, created: false, listen })
    const human = await runCli(['init', '--home', home])
    expect(human.stdout).toContain('already initialized')
    expect(human.stdout).toContain(peerId)
  })

  it('SPECMESH_HOME picks the data folder when --home is not given', async () => {
    const home = await tempHome()
    const out = await runJson(['init'], { env: { SPECMESH_HOME: home } })
    expect(out.home).toBe(home)
    expect(await exists(join(home, 'identity.key'))).toBe(true)
  })

  it('spec validate: ok <id> for a good file, FILE: path: message lines for a bad one', async () => {
    const good = await runCli(['spec', 'validate', GOOD])
    expect(good.code).toBe(0)
    expect(good.stdout).toMatch(/^ok \S+\n$/)
    const goodJson = await runJson(['spec', 'validate', GOOD])
    expect(goodJson).toEqual({ ok: true, file: GOOD, id: good.stdout.trim().slice(3) })

    const bad = await runCli(['spec', 'validate', INVALID])
    expect(bad.code).toBe(1)
    const lines = bad.stdout.trim().split('\n')
    expect(lines.length).toBeGreaterThanOrEqual(2)
    for (const line of lines) expect(line.startsWith(`${INVALID}: `)).toBe(true)
    expect(bad.stdout).toMatch(/output/)
    expect(bad.stdout).toMatch(/maxRetries/)

    const badJson = await runCli(['spec', 'validate', INVALID, '--json'])
    expect(badJson.code).toBe(1)
    const doc = JSON.parse(badJson.stdout)
    expect(doc.ok).toBe(false)
    expect(doc.problems.length).toBe(lines.length)

    // The shipped examples (YAML and JSON) must stay valid.
    const examples = (await readdir(join(ROOT, 'examples')).catch(() => [] as string[])).filter(f => /\.(ya?ml|json)$/.test(f))
    for (const example of examples) {
      const result = await runCli(['spec', 'validate', join(ROOT, 'examples', example)])
      expect(result.code, `${example}: ${result.stdout}`).toBe(0)
    }

    for (const file of [NOT_YAML, join(ROOT, 'test/fixtures/specs/does-not-exist.yaml')]) {
      const broken = await runCli(['spec', 'validate', file])
      expect(broken.code).toBe(1)
      expect(broken.stdout.startsWith(`${file}: `)).toBe(true)
    }
  })

  it('commands that need a daemon say how to start one', async () => {
    const home = await tempHome()
    const message = `no daemon is running for ${home}; start one with: specmesh daemon --home ${home}`
    for (const args of [['id'], ['peers'], ['spec', 'list'], ['spec', 'show', 'bagaaieraxyz'], ['spec', 'publish', GOOD]]) {
      const result = await runCli([...args, '--home', home])
      expect(result.code, args.join(' ')).toBe(1)
      expect(result.stderr).toContain(message)
      expect(result.stdout).toBe('')
    }
    const json = await runCli(['id', '--home', home, '--json'])
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout)).toEqual({ error: { code: 'no_daemon', message } })
  })

  it('usage errors name the mistake, suggest a fix and exit 2', async () => {
    const unknown = await runCli(['spce'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain("unknown command 'spce'; did you mean 'spec'?")

    const sub = await runCli(['spec', 'lsit'])
    expect(sub.code).toBe(2)
    expect(sub.stderr).toContain("did you mean 'specmesh spec list'?")

    const flag = await runCli(['spec', 'list', '--jsno'])
    expect(flag.code).toBe(2)
    expect(flag.stderr).toContain("unknown option '--jsno' for 'specmesh spec list'; did you mean '--json'?")

    const missing = await runCli(['spec', 'validate'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('missing FILE')

    const extra = await runCli(['id', 'extra'])
    expect(extra.code).toBe(2)
    expect(extra.stderr).toContain("unexpected argument 'extra'")

    for (const args of [['daemon'], ['agent', '--spec', 'x.yaml', '--exec', 'true']]) {
      const announce = await runCli([...args, '--announce', '203.0.113.5:4011'])
      expect(announce.code).toBe(2)
      expect(announce.stderr).toContain('--announce 203.0.113.5:4011 is not a multiaddr')
    }

    const noValue = await runCli(['init', '--home'])
    expect(noValue.code).toBe(2)
    expect(noValue.stderr).toContain("option '--home' needs a value")

    const json = await runCli(['bogus', '--json'])
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout).error.code).toBe('usage')
  })

  it('--help on every command and subcommand prints usage with examples', async () => {
    for (const args of [[], ['init'], ['daemon'], ['id'], ['peers'], ['spec'], ['spec', 'validate'], ['spec', 'publish'], ['spec', 'list'], ['spec', 'show'], ['spec', 'agents']]) {
      const result = await runCli([...args, '--help'])
      expect(result.code, args.join(' ')).toBe(0)
      expect(result.stdout).toContain('Usage: specmesh')
      expect(result.stdout).toContain('Examples:')
    }
    const viaHelp = await runCli(['help', 'spec', 'publish'])
    expect(viaHelp.stdout).toContain('Usage: specmesh spec publish FILE')
  })
})

describe('specmesh with running daemons', () => {
  it('daemon starts on a fresh home, prints where it listens, and serves id, peers and specs', async () => {
    const home = await tempHome()
    const daemon = await startDaemon(home)
    expect(daemon.stdout()).toContain(`peer id  ${daemon.api.peerId}`)
    expect(daemon.stdout()).toContain(`api      ${daemon.api.url}`)
    expect(daemon.stdout()).toMatch(/\/ip4\/127\.0\.0\.1\/tcp\/\d+/)
    // Structured logs: every stderr line is one JSON object with ts, level, event.
    for (const line of daemon.stderr().trim().split('\n').filter(Boolean)) {
      expect(JSON.parse(line)).toMatchObject({ ts: expect.any(String), level: expect.any(String), event: expect.any(String) })
    }
    expect((await stat(join(home, 'api-token'))).mode & 0o777).toBe(0o600)

    const id = await runJson(['id', '--home', home])
    expect(id.peerId).toBe(daemon.api.peerId)
    expect(id.api).toBe(daemon.api.url)
    expect(id.multiaddrs.some((a: string) => a.startsWith('/ip4/127.0.0.1/tcp/'))).toBe(true)
    expect(await runJson(['peers', '--home', home])).toEqual([])

    const validated = (await runCli(['spec', 'validate', GOOD])).stdout.trim().slice(3)
    const published = await runJson(['spec', 'publish', GOOD, '--home', home])
    expect(published.id).toBe(validated)
    expect(published.signer).toBe(daemon.api.peerId)
    expect(published.spec.name).toBe('extract-entities-e2e')

    const human = await runCli(['spec', 'publish', GOOD, '--home', home])
    expect(human.code).toBe(0)
    expect(human.stdout).toContain(`published ${published.id}`)

    const list = await runJson(['spec', 'list', '--home', home])
    expect(list.map((s: { id: string }) => s.id)).toEqual([published.id])
    const table = await runCli(['spec', 'list', '--home', home])
    expect(table.stdout).toMatch(/^ID\s+NAME\s+VERSION\s+VARIANT\s+SIGNER\n/)
    expect(table.stdout).toContain(published.id)
    expect(table.stdout).toContain('extract-entities-e2e')

    const shown = await runJson(['spec', 'show', published.id, '--home', home])
    expect(shown).toEqual(published)
    const shownHuman = await runCli(['spec', 'show', published.id, '--home', home])
    expect(shownHuman.stdout).toContain(`id        ${published.id}`)
    expect(shownHuman.stdout).toContain('name: extract-entities-e2e')

    const unknown = await runCli(['spec', 'show', 'bagaaieranothere', '--home', home])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('no spec with id bagaaieranothere')

    // Invalid and expired specs are stopped before anything reaches the daemon, as FILE: path: message.
    const invalid = await runCli(['spec', 'publish', INVALID, '--home', home])
    expect(invalid.code).toBe(1)
    expect(invalid.stdout.trim().split('\n').every(l => l.startsWith(`${INVALID}: `))).toBe(true)
    const expired = await runCli(['spec', 'publish', EXPIRED, '--home', home])
    expect(expired.code).toBe(1)
    expect(expired.stdout).toContain(`${EXPIRED}: `)
    expect(expired.stdout).toMatch(/deadline/)
    expect((await runJson(['spec', 'list', '--home', home])).length).toBe(1)
  })

  it('the API refuses requests without the token', async () => {
    const home = await tempHome()
    const daemon = await startDaemon(home)
    const res = await fetch(`${daemon.api.url}/v1/id`)
    expect(res.status).toBe(401)
    expect((await res.json()).error.code).toBe('unauthorized')
  })

  it('a spec published on one daemon reaches a daemon bootstrapped to it', async () => {
    const homeA = await tempHome()
    const homeB = await tempHome()
    const a = await startDaemon(homeA)
    const idA = await runJson(['id', '--home', homeA])
    const addrA = idA.multiaddrs.find((m: string) => m.startsWith('/ip4/127.0.0.1/'))
    const bootstrap = addrA.includes('/p2p/') ? addrA : `${addrA}/p2p/${idA.peerId}`

    // One spec before B exists (B must sync it), one after (B gets it by gossip).
    const before = await runJson(['spec', 'publish', GOOD, '--home', homeA])
    const b = await startDaemon(homeB, ['--bootstrap', bootstrap])
    expect(b.api.peerId).not.toBe(a.api.peerId)

    const clientB = new ApiClient({ home: homeB })
    await waitFor(async () => (await clientB.peers()).some(p => p.peerId === a.api.peerId), { timeoutMs: 15_000, what: 'B to connect to A' })
    await waitFor(async () => (await clientB.listSpecs()).some(s => s.id === before.id), { timeoutMs: 15_000, what: 'B to sync the earlier spec' })

    const laterFile = join(homeA, 'later.yaml')
    await writeFile(laterFile, (await readFile(GOOD, 'utf8')).replace('name: extract-entities-e2e', 'name: extract-entities-later'))
    const later = await runJson(['spec', 'publish', laterFile, '--home', homeA])
    await waitFor(async () => (await clientB.listSpecs()).some(s => s.id === later.id), { timeoutMs: 15_000, what: 'B to receive the gossiped spec' })

    const onB = await runJson(['spec', 'show', later.id, '--home', homeB])
    expect(onB.signer).toBe(a.api.peerId)
    const peersB = await runJson(['peers', '--home', homeB])
    expect(peersB.map((p: { peerId: string }) => p.peerId)).toContain(a.api.peerId)
  })

  it('a second daemon on the same home fails fast with a clear message', async () => {
    const home = await tempHome()
    const first = await startDaemon(home)
    const second = spawnDaemon(home, ['--listen', '/ip4/127.0.0.1/tcp/0'])
    const exit = await Promise.race([second.exited, new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('second daemon did not exit')), 15_000))])
    expect(exit.code).toBe(1)
    expect(second.output().stderr).toContain(`another specmesh daemon (pid ${first.pid}) is using ${home}; stop it first or pick another --home`)
    // The first one is untouched.
    expect((await readApiJson(home))?.pid).toBe(first.pid)
    expect((await runJson(['id', '--home', home])).peerId).toBe(first.api.peerId)
  })

  it('SIGTERM and SIGINT stop the daemon cleanly: exit 0, api.json and the lock removed', async () => {
    const home = await tempHome()
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const daemon = await startDaemon(home)
      const exit = await daemon.stop(signal)
      expect(exit, signal).toEqual({ code: 0, signal: null })
      expect(await exists(join(home, 'api.json'))).toBe(false)
      expect(await exists(join(home, 'daemon.lock'))).toBe(false)
      expect(daemon.stderr()).toContain('"event":"daemon.stopped"')
    }
  })

  it('a signal while the daemon is still starting stops it cleanly once started: exit 0, api.json and the lock removed', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const home = await tempHome()
      const daemon = spawnDaemon(home, ['--listen', '/ip4/127.0.0.1/tcp/0'])
      // The lock is the start's first step; the node, the API, api.json and the banner come
      // after it. Before the fix the signal met the default disposition here and killed it.
      await waitFor(async () => await exists(join(home, 'daemon.lock')), { what: 'the daemon to take its lock', timeoutMs: 20_000, intervalMs: 5 })
      daemon.child.kill(signal)
      const exit = await Promise.race([daemon.exited, new Promise<never>((_r, reject) => setTimeout(() => reject(new Error(`no exit after ${signal}`)), 20_000))])
      const { stderr } = daemon.output()
      expect(exit, `${signal}: ${stderr}`).toEqual({ code: 0, signal: null })
      expect(await exists(join(home, 'api.json'))).toBe(false)
      expect(await exists(join(home, 'daemon.lock'))).toBe(false)
      expect(stderr).toContain('"event":"daemon.signal"')
      expect(stderr).toContain('"event":"daemon.stopped"')
    }
  })

  it('after kill -9 a restart works and keeps the peer id and the specs', async () => {
    const home = await tempHome()
    const first = await startDaemon(home)
    const published = await runJson(['spec', 'publish', GOOD, '--home', home])
    expect(await first.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' })
    // The dead daemon's api.json and lock are still there…
    expect(await exists(join(home, 'api.json'))).toBe(true)
    expect(await exists(join(home, 'daemon.lock'))).toBe(true)
    // …but no command mistakes it for a running one.
    const stale = await runCli(['id', '--home', home])
    expect(stale.code).toBe(1)
    expect(stale.stderr).toContain(`no daemon is running for ${home}`)

    const second = await startDaemon(home)
    expect(second.api.peerId).toBe(first.api.peerId)
    const list = await runJson(['spec', 'list', '--home', home])
    expect(list.map((s: { id: string }) => s.id)).toContain(published.id)
    expect(await second.stop()).toEqual({ code: 0, signal: null })
  })

  it('a taken --api-port is reported clearly', async () => {
    const homeA = await tempHome()
    const homeB = await tempHome()
    const a = await startDaemon(homeA)
    const port = new URL(a.api.url).port
    const b = spawnDaemon(homeB, ['--listen', '/ip4/127.0.0.1/tcp/0', '--api-port', port])
    const exit = await Promise.race([b.exited, new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('daemon did not exit')), 15_000))])
    expect(exit.code).toBe(1)
    expect(b.output().stderr).toContain(`API port ${port} is already in use`)
    expect(await exists(join(homeB, 'daemon.lock'))).toBe(false)
  })
})
