/**
 * What an --exec handler starts does not outlive it (issue 10, item 5), through
 * the real command line: a `specmesh daemon` coordinates, a `specmesh agent`
 * runs a handler that detaches a child with setsid. At the deadline the child
 * dies with the handler; after a kill -9 of the agent, the next start of the
 * agent on the same data folder kills what the dead one left running.
 * Needs cgroup v2 (root here, as in CI) for the setsid child; skips, saying so, without.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { HandlerContainment } from '../../src/market/handler-containment.ts'
import { killSpawned, removeTempHomes, runCli, runJson, startAgent, startDaemon, tempHome } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'
import { processDead } from '../unit/exec/helpers.ts'

afterEach(async () => {
  await killSpawned()
  await removeTempHomes()
})

let cgroups = false
beforeAll(async () => {
  const probe = await tempHome()
  cgroups = new HandlerContainment({ home: probe }).start().mode === 'cgroup'
  if (!cgroups) console.warn('handler-leftovers.test: no cgroup v2 for this process (not root?): skipped')
})

/** A spec whose attempts stop after `windowS` seconds. */
async function specFile (dir: string, windowS: number): Promise<string> {
  const file = join(dir, 'leftovers.yaml')
  await writeFile(file, [
    `name: leftovers-${windowS}`, 'version: 1.0.0', 'description: a handler that leaves a detached child behind',
    'input: { type: object }', 'output: { type: object }', 'successCriteria: []', 'costUsd: 0.01',
    `executionWindow: ${windowS}`, 'deadline: 2m', 'budget: { maxUsd: 0.5, currency: USD, includesFees: true, overageBehavior: fail }',
    `capacity: { maxConcurrentRequests: 2, maxConcurrentRetries: 0, backoffMultiplier: 1, maxRetries: 0, timeoutSeconds: ${windowS} }`
  ].join('\n'))
  return file
}

const readPid = async (file: string): Promise<number | null> => {
  try {
    const n = Number((await readFile(file, 'utf8')).trim())
    return n > 0 ? n : null
  } catch {
    return null
  }
}

/** The handler: a setsid'd child (its pid in escaped.pid), its own pid in handler.pid, then it hangs. */
const hangingHandler = (dir: string): string =>
  `setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > ${dir}/escaped.pid; echo $$ > ${dir}/handler.pid; sleep 300`

/**
 * A daemon, and an agent bootstrapped to it that serves a spec with a
 * `windowS` execution window by the hanging handler, once the daemon sees it;
 * `work` holds the pid files and the job's input.json.
 */
async function daemonAndHangingAgent (work: string, windowS: number, agentHome?: string) {
  const daemon = await startDaemon(await tempHome())
  const addr = (await runJson(['id', '--home', daemon.home])).multiaddrs[0]
  const args = ['--spec', await specFile(work, windowS), '--exec', hangingHandler(work), '--price', '0.01', '--bootstrap', addr]
  const agent = await startAgent(args, agentHome)
  await waitFor(async () => (await runJson(['peers', '--home', daemon.home]) as Array<{ peerId: string }>).some(p => p.peerId === agent.peerId), { timeoutMs: 15_000, what: 'the daemon to see the agent' })
  await writeFile(join(work, 'input.json'), '{}')
  return { daemon, agent, args, specId: agent.serving[0]!.specId }
}

describe('handler leftovers through the CLI', () => {
  it('kills the setsid child of a handler aborted at the execution window', async ({ skip }) => {
    if (!cgroups) skip()
    const work = await tempHome()
    const { daemon, specId } = await daemonAndHangingAgent(work, 2)
    const submitted = await runCli(['job', 'submit', specId, '--input', join(work, 'input.json'), '--bid-window-ms', '1500', '--home', daemon.home, '--json'], { timeoutMs: 30_000 })
    const result = JSON.parse(submitted.stdout)
    expect(result.status, submitted.stdout + submitted.stderr).toBe('failed')
    expect(result.attempts[0]?.outcome).toBe('timeout')
    const escaped = await readPid(join(work, 'escaped.pid'))
    expect(escaped).not.toBeNull()
    await waitFor(() => processDead(escaped!), { timeoutMs: 5_000, what: `the setsid child ${escaped} to be dead` })
  })

  it('after a kill -9 of the agent, its next start kills the handler and the child the dead agent left behind', async ({ skip }) => {
    if (!cgroups) skip()
    const work = await tempHome()
    const agentHome = await tempHome()
    const { daemon, agent, args, specId } = await daemonAndHangingAgent(work, 60, agentHome)
    // The job hangs in the handler; it is never waited for.
    const submitted = await runCli(['job', 'submit', specId, '--input', join(work, 'input.json'), '--bid-window-ms', '1500', '--no-wait', '--home', daemon.home, '--json'], { timeoutMs: 30_000 })
    expect(submitted.code, submitted.stderr).toBe(0)
    const [handler, escaped] = await waitFor(async () => {
      const pids = [await readPid(join(work, 'handler.pid')), await readPid(join(work, 'escaped.pid'))]
      return pids.every(p => p != null) ? pids as number[] : null
    }, { timeoutMs: 15_000, what: 'the handler to start' })

    agent.child.kill('SIGKILL')
    await waitFor(() => agent.exited(), { timeoutMs: 5_000, what: 'the agent to die' })
    // A kill -9 runs no cleanup: both are still running.
    expect(processDead(handler!)).toBe(false)
    expect(processDead(escaped!)).toBe(false)

    await startAgent(args, agentHome)
    await waitFor(() => processDead(handler!) && processDead(escaped!), { timeoutMs: 5_000, what: 'the next agent start to kill the leftovers' })
  })
})
