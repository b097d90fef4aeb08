/**
 * The market end to end through the real command line: a `specmesh daemon`
 * coordinates, `specmesh agent` processes execute with handlers written in
 * Python, and `job`, `receipts` and `receipt verify` run as a user runs them.
 * Every wait polls with its own deadline; nothing sleeps blindly.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { killSpawned, removeTempHomes, ROOT, runCli, runJson, spawnAgent, startAgent, startDaemon, tempHome, type DaemonProcess } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'
import { ApiClient, ApiRequestError } from '../../src/api/client.ts'

const SPEC = join(ROOT, 'test/fixtures/agents/extract-entities.yaml')
const EXTRACT = `python3 ${join(ROOT, 'test/fixtures/agents/extract_entities.py')}`
const GARBAGE = `python3 ${join(ROOT, 'test/fixtures/agents/garbage.py')}`
const INPUT = join(ROOT, 'test/fixtures/agents/input.json')
/**
 * The order of attempts is the point: a window every agent's bid falls into on a loaded
 * two-core machine. It closes once each agent the daemon has heard has bid (the daemon's
 * first job waits to hear every agent on the spec's topics), so the job takes as long as its bids.
 */
const BID_WINDOW_MS = '5000'

afterEach(async () => {
  await killSpawned()
  await removeTempHomes()
})

/** A daemon holding the spec, and its id and address for agents to bootstrap from. */
async function meshWithSpec (): Promise<{ daemon: DaemonProcess, specId: string, addr: string }> {
  const daemon = await startDaemon(await tempHome())
  const published = await runJson(['spec', 'publish', SPEC, '--home', daemon.home])
  const id = await runJson(['id', '--home', daemon.home])
  return { daemon, specId: published.id, addr: id.multiaddrs[0] }
}

async function receiptIds (home: string, extra: string[] = []): Promise<string[]> {
  const receipts = await runJson(['receipts', '--home', home, ...extra]) as Array<{ id: string }>
  return receipts.map(r => r.id)
}

describe('the market through the command line', () => {
  it('Python agents serve a spec; a failed attempt goes to the next bid; each receipt reaches the coordinator and the agent whose attempt it is, and verifies', async () => {
    const { daemon, specId, addr } = await meshWithSpec()
    // The garbage agent is cheaper, so (explore off: by reputation mean and price,
    // no draw) it wins the first award and fails it.
    const broken = await startAgent(['--spec', specId, '--exec', GARBAGE, '--price', '0.01', '--bootstrap', addr])
    const good = await startAgent(['--spec', SPEC, '--exec', EXTRACT, '--price', '0.04', '--bootstrap', addr])
    expect(JSON.parse(good.stdout()).serving[0]).toMatchObject({ specId, priceUsd: 0.04, source: 'file' })
    expect(JSON.parse(broken.stdout()).serving[0]).toMatchObject({ specId, priceUsd: 0.01, source: 'mesh' })
    // Connected is not yet ready: the daemon knows a peer serves the spec once the peer's gossipsub
    // subscriptions have arrived. `spec agents` says when it knows both (README "Is the node ready?").
    await waitFor(async () => {
      const known = await runJson(['spec', 'agents', specId, '--home', daemon.home]) as { ready: boolean, agents: Array<{ peerId: string }> }
      const agents = known.agents.map(a => a.peerId)
      return known.ready && agents.includes(broken.peerId) && agents.includes(good.peerId)
    }, { timeoutMs: 15_000, what: 'the daemon to know both agents of the spec' })
    const agentsTable = await runCli(['spec', 'agents', 'extract-entities-e2e', '--home', daemon.home])
    expect(agentsTable.code, agentsTable.stderr).toBe(0)
    expect(agentsTable.stdout).toMatch(/agents\s+2 known/)
    expect(agentsTable.stdout).toMatch(/topics\s+not joined/)
    expect(agentsTable.stdout).toMatch(/ready\s+yes/)
    // Not on the spec's topics until its first job, the daemon holds no advert yet: that job
    // waits (bounded) for both agents' answers to its arrival (hearAgents in src/node.ts).

    const submitted = await runCli(['job', 'submit', specId, '--input', INPUT, '--bid-window-ms', BID_WINDOW_MS, '--explore', 'off', '--home', daemon.home, '--json'], { timeoutMs: 30_000 })
    expect(submitted.code, submitted.stdout + submitted.stderr).toBe(0)
    const result = JSON.parse(submitted.stdout)
    expect(Object.keys(result)).toEqual(['jobId', 'status', 'output', 'receipt', 'costUsd', 'reason', 'attempts'])
    expect(result.status).toBe('succeeded')
    expect(result.output).toEqual({ entities: ['Ada', 'Lovelace', 'Charles', 'Babbage', 'London'].map(name => ({ name, confidence: 90 })) })
    expect(result.costUsd).toBe(0.04)
    expect(result.receipt.body).toMatchObject({ specId, jobId: result.jobId, agent: good.peerId, outcome: 'success', costUsd: 0.04 })
    expect(result.attempts).toHaveLength(2)
    expect(result.attempts[0]).toMatchObject({ agent: broken.peerId, outcome: 'error' })
    expect(result.attempts[0].reason).toMatch(/not JSON/)
    expect(result.attempts[1]).toMatchObject({ agent: good.peerId, outcome: 'success', receiptId: result.receipt.id })
    // The broken handler cost an attempt, never the agent process.
    expect(broken.exited()).toBe(false)
    expect(good.exited()).toBe(false)

    // The job as the coordinator recorded it.
    const status = await runJson(['job', 'status', result.jobId, '--home', daemon.home])
    expect(status).toMatchObject({ jobId: result.jobId, status: 'succeeded', costUsd: 0.04, receiptId: result.receipt.id, output: result.output })
    const jobs = await runJson(['job', 'list', '--home', daemon.home]) as Array<{ jobId: string }>
    expect(jobs.map(j => j.jobId)).toContain(result.jobId)
    const table = await runCli(['job', 'list', '--home', daemon.home])
    expect(table.stdout).toMatch(new RegExp(`${result.jobId}\\s+extract-entities-e2e\\s+succeeded\\s+0\\.04 USD\\s+2`))

    // The coordinator's reputation of both agents, with the uncertainty of each score.
    const reputation = await runCli(['reputation', '--spec', 'extract-entities-e2e', '--home', daemon.home])
    expect(reputation.code, reputation.stderr).toBe(0)
    expect(reputation.stdout).toMatch(/SCORE\s+95% INTERVAL/)
    // One success, Beta(2, 1) (decayed by seconds): mean 0.667, interval [√0.025, √0.975].
    expect(reputation.stdout).toMatch(/0\.667\s+0\.16–0\.99/)
    expect(reputation.stdout).toMatch(/a new agent on extract-entities-e2e starts at 0\.500 \(Beta\(1\.00, 1\.00\), from 2 rated agents\)/)
    const reputationJson = await runJson(['reputation', '--spec', 'extract-entities-e2e', '--home', daemon.home])
    const goodRecord = reputationJson.agents.find((a: { agent: string }) => a.agent === good.peerId)
    expect(goodRecord.interval[0]).toBeCloseTo(Math.sqrt(0.025), 4)
    expect(goodRecord.interval[1]).toBeCloseTo(Math.sqrt(0.975), 4)
    // The newcomer prior: the mean of 0.5, the good agent's 2/3 and the broken one's 1/3.
    const prior = reputationJson.newcomerPriors['extract-entities-e2e']
    expect(prior.mean).toBeCloseTo(0.5, 4)
    expect(prior.members).toBeCloseTo(2, 4)

    // Receipts: both attempts on the coordinator at once, and each on the agent whose attempt it is, over its
    // execution stream (an agent is not on the spec's receipts topic: it holds no one else's).
    const failedReceipt = result.attempts[0].receiptId as string
    expect(await receiptIds(daemon.home)).toEqual(expect.arrayContaining([result.receipt.id, failedReceipt]))
    expect(await receiptIds(daemon.home, ['--agent', broken.peerId])).toEqual([failedReceipt])
    expect(await receiptIds(daemon.home, ['--job', result.jobId, '--limit', '1'])).toHaveLength(1)
    for (const [agent, receiptId] of [[good, result.receipt.id], [broken, failedReceipt]] as const) {
      await waitFor(async () => (await receiptIds(agent.home)).includes(receiptId), { timeoutMs: 15_000, what: `the receipt of its own attempt at agent ${agent.peerId}` })
    }
    expect(await receiptIds(good.home)).not.toContain(failedReceipt)
    expect(await receiptIds(broken.home)).not.toContain(result.receipt.id)
    const onAgent = await runJson(['receipts', '--home', good.home, '--spec', specId]) as Array<{ id: string, envelope: { body: { outcome: string } } }>
    expect(onAgent.find(r => r.id === result.receipt.id)?.envelope.body.outcome).toBe('success')
    const failedOnDaemon = await runJson(['receipt', 'show', failedReceipt, '--home', daemon.home])
    expect(failedOnDaemon.body).toMatchObject({ outcome: 'error', costUsd: 0, agent: broken.peerId })
    expect(failedOnDaemon.body.reason).toMatch(/not JSON/)

    // Verify by id on the coordinator: it holds the spec and the output.
    const verified = await runCli(['receipt', 'verify', result.receipt.id, '--home', daemon.home])
    expect(verified.code, verified.stdout + verified.stderr).toBe(0)
    expect(verified.stdout).toContain(`receipt ${result.receipt.id} verified`)
    expect(verified.stdout).not.toContain('✗')
    for (const check of ['coordinator-signature', 'agent-signature', 'budget', 'input-hash', 'output-hash', 'criteria']) {
      expect(verified.stdout).toMatch(new RegExp(`✓ ${check}\\b`))
    }
    // On an agent, which holds the receipt and spec but not the output: fewer checks, still a pass.
    const onAgentVerify = await runJson(['receipt', 'verify', result.receipt.id, '--home', good.home])
    expect(onAgentVerify.ok).toBe(true)
    expect(onAgentVerify.skipped.map((s: { check: string }) => s.check)).toContain('output-hash')

    // Offline, from the saved `job submit --json` output, with the spec and input files.
    const dir = await tempHome()
    const resultFile = join(dir, 'result.json')
    await writeFile(resultFile, submitted.stdout)
    const offline = await runJson(['receipt', 'verify', resultFile, '--spec', SPEC, '--input', INPUT])
    expect(offline.ok).toBe(true)
    expect(offline.receiptId).toBe(result.receipt.id)
    expect(offline.checks.map((c: { check: string }) => c.check)).toEqual(expect.arrayContaining(['spec', 'budget', 'input-hash', 'output-hash', 'criteria']))
    expect(offline.skipped).toEqual([])

    // A receipt altered after signing (its cost lowered) fails.
    const altered = structuredClone(result.receipt)
    altered.body.costUsd = 0.001
    const alteredFile = join(dir, 'altered-receipt.json')
    await writeFile(alteredFile, JSON.stringify(altered))
    const refuted = await runCli(['receipt', 'verify', alteredFile, '--spec', SPEC])
    expect(refuted.code).toBe(1)
    expect(refuted.stdout).toContain('FAILS verification')
    expect(refuted.stdout).toMatch(/✗ coordinator-signature/)
    const refutedJson = await runCli(['receipt', 'verify', alteredFile, '--spec', SPEC, '--json'])
    expect(refutedJson.code).toBe(1)
    expect(JSON.parse(refutedJson.stdout).ok).toBe(false)
    // The untouched copy in the same form passes: it was the change that failed it.
    const intactFile = join(dir, 'receipt.json')
    await writeFile(intactFile, JSON.stringify(result.receipt))
    expect((await runCli(['receipt', 'verify', intactFile, '--spec', SPEC])).code).toBe(0)
    expect(JSON.parse(await readFile(resultFile, 'utf8')).receipt.id).toBe(result.receipt.id)
  })

  it('reports what went wrong: unknown spec, bad input, no bids, a spec id that never arrives', async () => {
    const { daemon, specId, addr } = await meshWithSpec()
    const home = ['--home', daemon.home]

    const unknown = await runCli(['job', 'submit', 'bagaaierasmfdn36r7f3pcdqdl3vbpm3a24sseioaanh5lbnpao7pxmc4pqib', '--input', INPUT, ...home, '--json'])
    expect(unknown.code).toBe(1)
    expect(JSON.parse(unknown.stdout).error).toMatchObject({ code: 'not_found' })
    expect(JSON.parse(unknown.stdout).error.message).toMatch(/holds no spec/)

    const dir = await tempHome()
    const badJson = join(dir, 'bad.json')
    await writeFile(badJson, '{"text": "unterminated')
    const notJson = await runCli(['job', 'submit', specId, '--input', badJson, ...home])
    expect(notJson.code).toBe(1)
    expect(notJson.stderr).toContain(`input ${badJson} is not valid JSON`)

    const wrongShape = join(dir, 'wrong.json')
    await writeFile(wrongShape, '{"text": 42}')
    const invalid = await runCli(['job', 'submit', specId, '--input', wrongShape, ...home, '--json'])
    expect(invalid.code).toBe(1)
    const invalidError = JSON.parse(invalid.stdout).error
    expect(invalidError.code).toBe('invalid_job')
    expect(invalidError.problems.length).toBeGreaterThan(0)
    expect(JSON.stringify(invalidError.problems)).toMatch(/text/)

    // A bad award policy: the flag named, exit code 2, nothing submitted; through the API, the field.
    for (const [flag, value, message] of [['--explore', 'maybe', '--explore maybe is not on or off'], ['--min-reputation', '1.5', '--min-reputation 1.5 is not a reputation'], ['--prefer', 'nobody', '--prefer nobody is not a peer id']]) {
      const refused = await runCli(['job', 'submit', specId, '--input', INPUT, flag!, value!, ...home])
      expect(refused.code, refused.stderr).toBe(2)
      expect(refused.stderr).toContain(message)
    }
    const api = new ApiClient({ home: daemon.home })
    const badPolicy = await api.request('POST', '/v1/jobs', { specId, input: { text: 'x' }, award: { explore: 'maybe', minReputation: 2 } }).catch((err: unknown) => err)
    expect(badPolicy).toBeInstanceOf(ApiRequestError)
    expect((badPolicy as ApiRequestError).status).toBe(400)
    expect((badPolicy as ApiRequestError).code).toBe('invalid_job')
    expect((badPolicy as ApiRequestError).problems?.map(p => p.path)).toEqual(['award.explore', 'award.minReputation'])

    // No agent serves the spec: the job fails with a reason, exit code 1.
    const noBids = await runCli(['job', 'submit', specId, '--input', INPUT, '--bid-window-ms', '200', ...home, '--json'], { timeoutMs: 30_000 })
    expect(noBids.code).toBe(1)
    const failed = JSON.parse(noBids.stdout)
    expect(failed).toMatchObject({ status: 'failed', output: null, receipt: null, costUsd: 0, attempts: [] })
    expect(failed.reason).toMatch(/bid/)
    const human = await runCli(['job', 'status', failed.jobId, ...home])
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/status\s+failed/)

    expect((await runCli(['receipt', 'verify', 'bagaaieranosuchreceipt', ...home])).code).toBe(1)

    // An agent asked to serve a spec id nobody has gives up with a clear message, and releases its folder.
    const agentHome = await tempHome()
    const lost = spawnAgent(agentHome, ['--spec', 'bagaaierasmfdn36r7f3pcdqdl3vbpm3a24sseioaanh5lbnpao7pxmc4pqib', '--exec', EXTRACT, '--spec-wait', '2', '--bootstrap', addr])
    let exit: { code: number | null } | undefined
    void lost.exited.then(e => { exit = e })
    await waitFor(() => exit, { timeoutMs: 20_000, what: 'the agent to give up waiting for the spec' })
    expect(exit!.code).toBe(1)
    expect(lost.output().stderr).toMatch(/spec \S+ has not reached this node after 2 s \(\d+ peers? connected\); no peer sent it by sync and no provider of it was found in the DHT; check --bootstrap/)
    const restarted = await startAgent(['--spec', specId, '--exec', EXTRACT, '--bootstrap', addr], agentHome)
    expect(restarted.exited()).toBe(false)

    // Usage mistakes are caught before anything starts.
    const unpaired = await runCli(['agent', '--home', agentHome, '--spec', SPEC, '--spec', specId, '--exec', EXTRACT])
    expect(unpaired.code).toBe(2)
    expect(unpaired.stderr).toContain('give one --exec per --spec')
  })
})
