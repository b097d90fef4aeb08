/**
 * A real local mesh with some history, for the operating surfaces' tests: a
 * `specmesh daemon` holding the e2e spec, one `specmesh agent` serving it with
 * the Python extractor, and jobs submitted through the CLI (some succeed, one
 * fails for want of a bid under its ceiling).
 */
import { join } from 'node:path'
import { ROOT, runCli, runJson, startAgent, startDaemon, tempHome, type AgentProcess, type DaemonProcess } from './cli.ts'
import { waitFor } from './wait.ts'

export const SPEC_FILE = join(ROOT, 'test/fixtures/agents/extract-entities.yaml')
export const SPEC_NAME = 'extract-entities-e2e'
const EXTRACT = `python3 ${join(ROOT, 'test/fixtures/agents/extract_entities.py')}`
const INPUT = join(ROOT, 'test/fixtures/agents/input.json')
/** Long enough for the one agent's bid on a loaded two-core machine. */
const BID_WINDOW_MS = '1000'

export interface MeshWithJobs {
  daemon: DaemonProcess
  agent: AgentProcess
  /** The second agent, when `cheaperAgent` gave one. */
  cheaper?: AgentProcess
  specId: string
  succeeded: string[]
  failed: string[]
}

/**
 * `cheaperAgent`: an --exec command for a second agent asking less (0.01 USD),
 * which therefore wins the first award (reputations are equal then); a retry
 * goes to the good agent, and from then on its record wins.
 */
export async function meshWithJobs (options: { succeed?: number, fail?: number, cheaperAgent?: string } = {}): Promise<MeshWithJobs> {
  const daemon = await startDaemon(await tempHome())
  const published = await runJson(['spec', 'publish', SPEC_FILE, '--home', daemon.home])
  const id = await runJson(['id', '--home', daemon.home])
  const agent = await startAgent(['--spec', published.id, '--exec', EXTRACT, '--price', '0.04', '--bootstrap', id.multiaddrs[0]])
  const cheaper = options.cheaperAgent != null ? await startAgent(['--spec', published.id, '--exec', options.cheaperAgent, '--price', '0.01', '--bootstrap', id.multiaddrs[0]]) : undefined
  const agents = [agent, ...(cheaper != null ? [cheaper] : [])]
  await waitFor(async () => {
    const peers = (await runJson(['peers', '--home', daemon.home]) as Array<{ peerId: string }>).map(p => p.peerId)
    return agents.every(a => peers.includes(a.peerId))
  }, { timeoutMs: 15_000, what: 'the daemon to connect to the agents' })
  const succeeded: string[] = []
  const failed: string[] = []
  for (let i = 0; i < (options.succeed ?? 2); i++) {
    // Explore off: the award goes by reputation and price alone, so the cheaper agent wins the first one.
    const run = await runCli(['job', 'submit', SPEC_NAME, '--input', INPUT, '--bid-window-ms', BID_WINDOW_MS, '--explore', 'off', '--home', daemon.home, '--json'], { timeoutMs: 30_000 })
    if (run.code !== 0) throw new Error(`job submit failed: ${run.stdout}${run.stderr}`)
    succeeded.push(JSON.parse(run.stdout).jobId)
  }
  for (let i = 0; i < (options.fail ?? 1); i++) {
    // A ceiling below every agent's price: nobody bids, and the job fails with a reason.
    const run = await runCli(['job', 'submit', published.id, '--input', INPUT, '--max-usd', '0.005', '--bid-window-ms', '100', '--home', daemon.home, '--json'], { timeoutMs: 30_000 })
    if (run.code !== 1) throw new Error(`the job meant to fail did not: ${run.stdout}${run.stderr}`)
    failed.push(JSON.parse(run.stdout).jobId)
  }
  return { daemon, agent, ...(cheaper != null ? { cheaper } : {}), specId: published.id, succeeded, failed }
}
