import { spawn } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createNode, type Node } from '../../src/node.ts'
import { NODE, ROOT } from '../helpers/cli.ts'
import { tempHome } from '../helpers/mesh.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * Nothing a coordinator accepted is lost to a kill -9 (issue 13): a job's
 * record is written beside its start, in the group commit that also carries
 * its award's reservation, and startJob resolves with the job's id only once
 * it is on disk. A real process runs a coordinator and an agent with jobs
 * streaming under a lease (some waiting for a slot, some running, some
 * receipted, their writes batched together) and is killed with SIGKILL; the
 * coordinator's home, opened again, holds every job whose id was handed out,
 * each either succeeded with its receipt or closed as interrupted, and no
 * money is left reserved.
 */
let node: Node | undefined
let home = ''
afterEach(async () => {
  await node?.stop()
  node = undefined
  if (home !== '') await rm(home, { recursive: true, force: true })
})

describe('a coordinator killed with SIGKILL while jobs run under a lease', () => {
  it('keeps every job it accepted: succeeded with its receipt, or closed as interrupted at the next start', async () => {
    home = await tempHome('specmesh-crash-coordinator-')
    const child = spawn(NODE, [join(ROOT, 'test/fixtures/crash/leased-coordinator.ts'), home], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    const accepted: string[] = []
    let succeeded = 0
    let out = ''
    let err = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8')
      for (const match of out.matchAll(/^accepted (\S+)$/gm)) if (!accepted.includes(match[1]!)) accepted.push(match[1]!)
      succeeded = [...out.matchAll(/^succeeded /gm)].length
    })
    child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString('utf8') })
    const exited = new Promise<void>(resolve => child.once('exit', () => { resolve() }))
    try {
      // Killed while jobs are in every state: some done, some running, some waiting for a slot.
      await waitFor(() => (accepted.length >= 150 && succeeded >= 50) || child.exitCode != null, { timeoutMs: 60_000, what: '150 accepted jobs in the child, 50 of them succeeded' })
      expect(child.exitCode, err).toBeNull()
    } finally {
      child.kill('SIGKILL')
      await exited
    }
    expect(out).not.toMatch(/^refused/m)

    node = await createNode({ home, listen: ['/ip4/127.0.0.1/tcp/0'] })
    const statuses = new Map<string, number>()
    for (const jobId of accepted) {
      const job = await node.getJob(jobId)
      expect(job, `job ${jobId}, accepted before the kill`).not.toBeNull()
      statuses.set(job!.status, (statuses.get(job!.status) ?? 0) + 1)
      if (job!.status === 'succeeded') {
        expect(await node.getReceipt(job!.receiptId!)).not.toBeNull()
      } else {
        expect(job!.status).toBe('failed')
        expect(job!.reason).toMatch(/^interrupted: the node stopped while the job was (bidding|running)/)
      }
    }
    // Some ran to the end before the kill, some were cut short by it; the ledger holds no reservation for those.
    expect(statuses.get('succeeded') ?? 0).toBeGreaterThanOrEqual(50)
    expect(statuses.get('failed') ?? 0).toBeGreaterThan(0)
    const ledger = await node.ledger()
    for (const jobId of accepted) {
      const entry = ledger.jobs.find(j => j.jobId === jobId)
      if (entry != null) expect(entry.reservedUsd).toBe(0)
    }
  }, 90_000)
})
