/**
 * The daemon's data-folder lock and lifecycle, in process. startDaemon is given
 * a FAKE node (the real one is exercised through the CLI in cli.test.ts), so
 * these tests are about the lock, api.json and the banner only.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { acquireDaemonLock, DaemonAlreadyRunningError, startDaemon } from '../../src/daemon.ts'
import type { NodeInit, SpecmeshNode } from '../../src/node-types.ts'

let home: string
beforeEach(async () => { home = await mkdtemp(join(tmpdir(), 'specmesh-lock-')) })
afterEach(async () => { await rm(home, { recursive: true, force: true }) })

const lockPath = (): string => join(home, 'daemon.lock')
const exists = async (path: string): Promise<boolean> => await stat(path).then(() => true, () => false)

/** A pid that certainly belongs to no process: one that just exited. */
async function deadPid (): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise(resolve => child.on('exit', resolve))
  return child.pid!
}

describe('daemon lock', () => {
  it('holds the pid and refuses a second holder while the first lives', async () => {
    const lock = await acquireDaemonLock(home)
    expect((await readFile(lockPath(), 'utf8')).split('\n')[0]).toBe(String(process.pid))
    const err = await acquireDaemonLock(home).catch(e => e)
    expect(err).toBeInstanceOf(DaemonAlreadyRunningError)
    expect(err.message).toBe(`another specmesh daemon (pid ${process.pid}) is using ${home}; stop it first or pick another --home`)
    await lock.release()
    expect(await exists(lockPath())).toBe(false)
    const again = await acquireDaemonLock(home)
    await again.release()
  })

  it('takes over a lock whose process is gone (kill -9, crash)', async () => {
    await writeFile(lockPath(), `${await deadPid()}\n`)
    const lock = await acquireDaemonLock(home)
    expect((await readFile(lockPath(), 'utf8')).split('\n')[0]).toBe(String(process.pid))
    await lock.release()
  })

  it('takes over a lock that is garbage', async () => {
    await writeFile(lockPath(), 'not a pid')
    const lock = await acquireDaemonLock(home)
    await lock.release()
  })

  it('takes over a lock whose pid was reused by another process (start time differs)', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' })
    try {
      await writeFile(lockPath(), `${child.pid}\n1\n`)
      const lock = await acquireDaemonLock(home)
      await lock.release()
    } finally {
      child.kill('SIGKILL')
    }
  })

  it('does not release a lock that is no longer its own', async () => {
    const lock = await acquireDaemonLock(home)
    await writeFile(lockPath(), '999999999\n')
    await lock.release()
    expect(await readFile(lockPath(), 'utf8')).toBe('999999999\n')
  })
})

function fakeNode (init: NodeInit): SpecmeshNode & { stopped: boolean } {
  const fake = {
    peerId: '12D3KooWFakeDaemonNode',
    home: init.home!,
    stopped: false as boolean,
    multiaddrs: () => ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWFakeDaemonNode'],
    peers: () => [],
    publishSpec: async () => { throw new Error('not in this fake') },
    listSpecs: async () => [],
    getSpec: async () => null,
    async stop () { this.stopped = true }
  }
  // Only the members these tests reach; the rest of SpecmeshNode (jobs, receipts, …) is not faked.
  return fake as typeof fake & SpecmeshNode
}

describe('startDaemon (fake node)', () => {
  it('creates the identity, prints the banner, writes api.json; stop undoes it all', async () => {
    let out = ''
    let err = ''
    let node: ReturnType<typeof fakeNode> | undefined
    const daemon = await startDaemon({
      home,
      stdout: t => { out += t },
      stderr: t => { err += t },
      createNode: async init => (node = fakeNode(init))
    })
    expect(await exists(join(home, 'identity.key'))).toBe(true)
    expect(out).toContain('peer id  12D3KooWFakeDaemonNode')
    expect(out).toContain(`api      ${daemon.api.url}`)
    expect(out).toContain('/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWFakeDaemonNode')
    const events = err.trim().split('\n').map(l => JSON.parse(l))
    expect(events.map(e => e.event)).toEqual(expect.arrayContaining(['identity.created', 'api.listening', 'daemon.started']))
    expect(JSON.parse(await readFile(join(home, 'api.json'), 'utf8')).pid).toBe(process.pid)

    await daemon.stop()
    expect(node!.stopped).toBe(true)
    expect(await exists(join(home, 'api.json'))).toBe(false)
    expect(await exists(lockPath())).toBe(false)
  })

  it('--json prints one JSON document', async () => {
    let out = ''
    const daemon = await startDaemon({ home, json: true, stdout: t => { out += t }, stderr: () => {}, createNode: async init => fakeNode(init) })
    try {
      expect(JSON.parse(out)).toEqual({ peerId: '12D3KooWFakeDaemonNode', multiaddrs: ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWFakeDaemonNode'], api: daemon.api.url, home, pid: process.pid })
    } finally {
      await daemon.stop()
    }
  })

  it('releases the lock when the node fails to start', async () => {
    const err = await startDaemon({ home, stdout: () => {}, stderr: () => {}, createNode: async () => { throw new Error('no network') } }).catch(e => e)
    expect(err.message).toBe('no network')
    expect(await exists(lockPath())).toBe(false)
    expect(await exists(join(home, 'api.json'))).toBe(false)
  })
})
