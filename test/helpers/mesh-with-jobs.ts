/**
 * A real local mesh with some history, for the operating surfaces' tests: a
 * `specmesh daemon` holding the e2e spec, one `specmesh agent` serving it with
 * the Python extractor, and jobs submitted through the CLI (some succeed, one
 * fails for want of a bid under its ceiling).
 */
import { EXTRACT_EXEC, EXTRACT_INPUT, EXTRACT_SPEC, runCli, runJson, startAgent, startDaemon, tempHome, waitForPeers, type AgentProcess, type DaemonProcess } from './cli.ts'

/** The name in EXTRACT_SPEC: jobs can be submitted by it. */
export const SPEC_NAME = 'extract-entities-e2e'
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
  const published = await runJson(['spec', 'publish', EXTRACT_SPEC, '--home', daemon.home])
  const id = await runJson(['id', '--home', daemon.home])
  const agent = await startAgent(['--spec', published.id, '--exec', EXTRACT_EXEC, '--price', '0.04', '--bootstrap', id.multiaddrs[0]])
  const cheaper = options.cheaperAgent != null ? await startAgent(['--spec', published.id, '--exec', options.cheaperAgent, '--price', '0.01', '--bootstrap', id.multiaddrs[0]]) : undefined
  const agents = [agent, ...(cheaper != null ? [cheaper] : [])]
  await waitForPeers(daemon.home, agents.map(a => a.peerId), 'the daemon to connect to the agents')
  const succeeded: string[] = []
  const failed: string[] = []
  for (let i = 0; i < (options.succeed ?? 2); i++) {
    // Explore off: the award goes by reputation and price alone, so the cheaper agent wins the first one.
    const run = await runCli(['job', 'submit', SPEC_NAME, '--input', EXTRACT_INPUT, '--bid-window-ms', BID_WINDOW_MS, '--explore', 'off', '--home', daemon.home, '--json'], { timeoutMs: 30_000 })
    if (run.code !== 0) throw new Error(`job submit failed: ${run.stdout}${run.stderr}`)
    succeeded.push(JSON.parse(run.stdout).jobId)
  }
  for (let i = 0; i < (options.fail ?? 1); i++) {
    // A ceiling below every agent's price: nobody bids, and the job fails with a reason.
    const run = await runCli(['job', 'submit', published.id, '--input', EXTRACT_INPUT, '--max-usd', '0.005', '--bid-window-ms', '100', '--home', daemon.home, '--json'], { timeoutMs: 30_000 })
    if (run.code !== 1) throw new Error(`the job meant to fail did not: ${run.stdout}${run.stderr}`)
    failed.push(JSON.parse(run.stdout).jobId)
  }
  return { daemon, agent, ...(cheaper != null ? { cheaper } : {}), specId: published.id, succeeded, failed }
}
