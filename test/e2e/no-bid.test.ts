/**
 * A job nobody bids on says why, and what to do, through the real command
 * line: each case of src/market/no-bid.ts on a mesh that grows from a lone
 * daemon to one with agents priced out of the job.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { EXTRACT_EXEC, EXTRACT_INPUT, EXTRACT_SPEC, killSpawned, removeTempHomes, ROOT, runCli, runJson, startAgent, startDaemon, tempHome, waitForPeers } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'

afterEach(async () => {
  await killSpawned()
  await removeTempHomes()
})

/** A lone daemon holding the extract-entities spec: its --home arguments, the spec id and its address. */
async function daemonWithSpec (): Promise<{ home: string[], specId: string, addr: string }> {
  const daemon = await startDaemon(await tempHome())
  const home = ['--home', daemon.home]
  const { id: specId } = await runJson(['spec', 'publish', EXTRACT_SPEC, ...home])
  const addr = (await runJson(['id', ...home])).multiaddrs[0]
  return { home, specId, addr }
}

describe('a job with no bid says which case it is', () => {
  it('no peers; peers but nobody serving; the only agent over the ceiling; --max-usd below every price', async () => {
    const { home, specId, addr } = await daemonWithSpec()
    const submit = async (extra: string[] = []): Promise<{ code: number | null, result: any }> => {
      const run = await runCli(['job', 'submit', specId, '--input', EXTRACT_INPUT, '--bid-window-ms', '100', ...extra, ...home, '--json'], { timeoutMs: 30_000 })
      return { code: run.code, result: JSON.parse(run.stdout) }
    }
    const cause = async (jobId: string): Promise<string> => (await runJson(['job', 'status', jobId, ...home])).noBid?.cause

    const alone = await submit()
    expect(alone.code).toBe(1)
    expect(alone.result.reason).toMatch(/^no agent bid: this node is connected to no peer; start the daemon with --bootstrap/)
    expect(await cause(alone.result.jobId)).toBe('no-peers')

    const peer = await startDaemon(await tempHome(), ['--bootstrap', addr])
    await waitForPeers(home[1]!, [peer.api.peerId], 'the daemon to see its peer')
    const nobody = await submit()
    expect(nobody.result.reason).toContain('no agent serving this spec is connected (1 peer, none advertising it)')
    expect(await cause(nobody.result.jobId)).toBe('no-agent-serving')

    // An agent priced above the spec's budget (0.5 USD) warns as it starts, and a concurrency above the spec's limit is capped with a word.
    const dear = await startAgent(['--spec', specId, '--exec', EXTRACT_EXEC, '--price', '0.9', '--concurrency', '9', '--bootstrap', addr, '--log-level', 'warn'])
    const warnings = dear.stderr().trim().split('\n').map(l => JSON.parse(l))
    // --log-level warn: the warnings, at their level, and nothing below.
    expect(warnings.map(l => l.level)).toEqual(warnings.map(() => 'warn'))
    expect(warnings.map(l => l.message)).toEqual(expect.arrayContaining([
      "price 0.9 USD is above this spec's ceiling 0.5 USD (budget.maxUsd): no job of it can be awarded to this agent; lower the price (--price)",
      "concurrency 9 is capped at 5: the spec's capacity.maxConcurrentRequests"
    ]))
    const priced = await waitFor(async () => {
      const { result } = await submit()
      return /asking/.test(result.reason) ? result : null
    }, { timeoutMs: 20_000, what: "the daemon to hold the dear agent's advert" })
    expect(priced.reason).toContain("1 agent serves this spec, asking 0.9 USD, above this job's ceiling 0.5 USD")
    expect(priced.reason).toContain('--set budget.maxUsd=0.9')
    expect(await cause(priced.jobId)).toBe('over-ceiling')

    await startAgent(['--spec', specId, '--exec', EXTRACT_EXEC, '--price', '0.2', '--bootstrap', addr])
    const low = await waitFor(async () => {
      const { result } = await submit(['--max-usd', '0.1'])
      return /2 agents/.test(result.reason) ? result : null
    }, { timeoutMs: 20_000, what: "the daemon to hold both agents' adverts" })
    expect(low.reason).toContain("2 agents serve this spec, asking 0.2 USD to 0.9 USD, above this job's ceiling 0.1 USD (its --max-usd): raise --max-usd to at least 0.2 USD")
    expect(await cause(low.jobId)).toBe('max-usd-below-prices')

    // And with the ceiling raised as told, the job goes through.
    const raised = await submit(['--max-usd', '0.2'])
    expect(raised.code).toBe(0)
    expect(raised.result.costUsd).toBe(0.2)
  }, 120_000)
})

describe('a job that finds every agent busy', () => {
  it('waits unsent until its deadline, then says every agent stayed at its limit (noBid.cause all-busy)', async () => {
    const { home, specId, addr } = await daemonWithSpec()
    // One slot and one queue place: two long jobs fill the agent.
    await startAgent(['--spec', specId, '--exec', `python3 ${join(ROOT, 'test/fixtures/agents/slow_extract.py')} 60`, '--concurrency', '1', '--bootstrap', addr])
    for (let i = 0; i < 2; i++) {
      await waitFor(async () => {
        const run = await runCli(['job', 'submit', specId, '--input', EXTRACT_INPUT, '--bid-window-ms', '300', '--no-wait', ...home, '--json'])
        const { jobId } = JSON.parse(run.stdout)
        // Until the agent's advert has reached the daemon, a job may find nobody: submit again.
        const job = await waitFor(async () => { const j = await runJson(['job', 'status', jobId, ...home]); return j.status !== 'bidding' ? j : null }, { timeoutMs: 10_000, what: 'the job to leave bidding' })
        return job.status === 'running'
      }, { timeoutMs: 20_000, what: `long job ${i + 1} to run` })
    }
    const deadline = new Date(Date.now() + 3_000).toISOString()
    const busy = await runCli(['job', 'submit', specId, '--input', EXTRACT_INPUT, '--deadline', deadline, ...home, '--json'], { timeoutMs: 30_000 })
    expect(busy.code).toBe(1)
    const result = JSON.parse(busy.stdout)
    expect(result.reason).toContain('every one of the 1 agent serving the spec stayed at its concurrency limit until the deadline, so nothing was submitted')
    expect(result.attempts).toEqual([])
    expect((await runJson(['job', 'status', result.jobId, ...home])).noBid).toMatchObject({ cause: 'all-busy', peers: 1 })
  }, 90_000)
})
