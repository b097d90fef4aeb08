/**
 * A job's life through the real command line and the local API: submit without
 * waiting, follow the events (also resumed across a daemon restart), wait for
 * the result, Ctrl+C on `job submit`, cancel a running job. A `specmesh daemon`
 * coordinates and a `specmesh agent` runs a slow Python handler.
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { BIN, killSpawned, NODE, removeTempHomes, ROOT, runCli, runJson, startAgent, startDaemon, tempHome, type AgentProcess, type DaemonProcess } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'

const SPEC = join(ROOT, 'test/fixtures/agents/extract-entities.yaml')
const SLOW = join(ROOT, 'test/fixtures/agents/slow_extract.py')
const INPUT = join(ROOT, 'test/fixtures/agents/input.json')

afterEach(async () => {
  agents.length = 0
  await killSpawned()
  await removeTempHomes()
})

/** A daemon holding the spec and one agent serving it with the slow handler. */
const agents: AgentProcess[] = []
const agentProcesses = (): AgentProcess[] => agents

async function meshWithSlowAgent (seconds: number, pidFile?: string): Promise<{ daemon: DaemonProcess, specId: string, agentId: string }> {
  const daemon = await startDaemon(await tempHome())
  const published = await runJson(['spec', 'publish', SPEC, '--home', daemon.home])
  const addr = (await runJson(['id', '--home', daemon.home])).multiaddrs[0]
  const agent = await startAgent(['--spec', published.id, '--exec', `python3 ${SLOW} ${seconds}${pidFile != null ? ` ${pidFile}` : ''}`, '--price', '0.02', '--bootstrap', addr])
  agents.push(agent)
  await waitFor(async () => {
    const peers = await runJson(['peers', '--home', daemon.home]) as Array<{ peerId: string }>
    return peers.some(p => p.peerId === agent.peerId)
  }, { timeoutMs: 15_000, what: 'the daemon to connect to the agent' })
  return { daemon, specId: published.id, agentId: agent.peerId }
}

/** GET the job's event stream over plain HTTP, as any SSE client would, until the daemon ends it. */
async function readEventStream (home: string, jobId: string, lastEventId?: string): Promise<{ status: number, contentType: string | null, events: Array<{ id: string, event: string, data: any }> }> {
  const api = JSON.parse(await readFile(join(home, 'api.json'), 'utf8')) as { url: string }
  const token = (await readFile(join(home, 'api-token'), 'utf8')).trim()
  const headers: Record<string, string> = { authorization: `Bearer ${token}` }
  if (lastEventId != null) headers['last-event-id'] = lastEventId
  const res = await fetch(`${api.url}/v1/jobs/${jobId}/events`, { headers, signal: AbortSignal.timeout(30_000) })
  const text = await res.text()
  const events = text.split('\n\n').filter(block => block.includes('data:')).map(block => {
    const field = (name: string): string => block.split('\n').find(l => l.startsWith(`${name}: `))?.slice(name.length + 2) ?? ''
    return { id: field('id'), event: field('event'), data: JSON.parse(field('data')) }
  })
  return { status: res.status, contentType: res.headers.get('content-type'), events }
}

describe('job lifecycle through the command line', () => {
  it('submit --no-wait returns the id at once; watch follows every event to done; wait prints the result; the stream resumes after a daemon restart', async () => {
    const { daemon, specId, agentId } = await meshWithSlowAgent(1.5)
    const home = ['--home', daemon.home]

    const submitted = await runJson(['job', 'submit', specId, '--input', INPUT, '--bid-window-ms', '1000', '--no-wait', ...home])
    expect(Object.keys(submitted)).toEqual(['jobId'])
    const { jobId } = submitted
    // It returned before the job could have ended: the handler alone takes 1.5 s.
    const early = await runJson(['job', 'status', jobId, ...home])
    expect(['bidding', 'running']).toContain(early.status)

    const watched = await runCli(['job', 'watch', jobId, '--json', ...home], { timeoutMs: 30_000 })
    expect(watched.code, watched.stderr).toBe(0)
    const events = watched.stdout.trim().split('\n').map(line => JSON.parse(line))
    expect(events.map(e => e.seq)).toEqual(events.map((_e, i) => i + 1))
    expect(events.map(e => e.type), watched.stdout).toEqual(['submitted', 'bid', 'award', 'attempt-started', 'attempt-ended', 'receipt', 'done'])
    expect(events.every(e => e.jobId === jobId)).toBe(true)
    expect(events[1].data).toMatchObject({ agent: agentId, priceUsd: 0.02 })
    expect(events[4].data).toMatchObject({ attempt: 1, agent: agentId, outcome: 'success' })
    expect(events[4].data.durationMs).toBeGreaterThanOrEqual(1500)
    expect(events[6].data).toMatchObject({ status: 'succeeded', costUsd: 0.02 })

    // The agent's log: one line per bid, award and outcome (with duration and price), and the handler's stderr.
    const agentLog = agentProcesses()[0]!.stderr().trim().split('\n').map(l => JSON.parse(l)).filter(l => l.jobId === jobId)
    expect(agentLog.find(l => l.event === 'agent.bid')).toMatchObject({ level: 'info', priceUsd: 0.02 })
    expect(agentLog.find(l => l.event === 'agent.awarded')).toMatchObject({ level: 'info', attempt: 1, priceUsd: 0.02 })
    const outcome = agentLog.find(l => l.event === 'agent.outcome')
    expect(outcome).toMatchObject({ level: 'info', outcome: 'success', priceUsd: 0.02 })
    expect(outcome.durationMs).toBeGreaterThanOrEqual(1500)
    expect(agentLog.find(l => l.event === 'handler.stderr')).toMatchObject({ line: 'slow handler started, sleeping 1.5 s' })

    const human = await runCli(['job', 'watch', jobId, ...home])
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/#1 {2}submitted for extract-entities-e2e/)
    expect(human.stdout).toMatch(/#7 {2}done: succeeded, cost 0\.02 USD/)

    const waited = await runJson(['job', 'wait', jobId, ...home])
    expect(waited).toMatchObject({ jobId, status: 'succeeded', costUsd: 0.02, reason: null })
    expect(waited.receipt.id).toBe(events[5].data.receiptId)
    expect(waited.output.entities.map((e: { name: string }) => e.name)).toContain('Lovelace')

    // Server-Sent Events over plain HTTP, resumed with Last-Event-ID.
    const all = await readEventStream(daemon.home, jobId)
    expect(all.status).toBe(200)
    expect(all.contentType).toMatch(/^text\/event-stream/)
    expect(all.events.map(e => e.event)).toEqual(events.map(e => e.type))
    expect(all.events.map(e => e.id)).toEqual(events.map(e => String(e.seq)))
    const resumed = await readEventStream(daemon.home, jobId, '4')
    expect(resumed.events.map(e => Number(e.id))).toEqual([5, 6, 7])

    // The events are on disk: a restarted daemon serves the same stream.
    await daemon.stop()
    const again = await startDaemon(daemon.home)
    const afterRestart = await readEventStream(again.home, jobId, '4')
    expect(afterRestart.events.map(e => e.data)).toEqual(events.slice(4))
    await again.stop()
  }, 90_000)

  it('POST /v1/jobs with wait: false answers 202 with the job id; unknown jobs are 404 on every job route', async () => {
    const daemon = await startDaemon(await tempHome())
    const published = await runJson(['spec', 'publish', SPEC, '--home', daemon.home])
    const api = JSON.parse(await readFile(join(daemon.home, 'api.json'), 'utf8')) as { url: string }
    const token = (await readFile(join(daemon.home, 'api-token'), 'utf8')).trim()
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const input = JSON.parse(await readFile(INPUT, 'utf8'))
    const res = await fetch(`${api.url}/v1/jobs`, { method: 'POST', headers: auth, body: JSON.stringify({ specId: published.id, input, wait: false, bidWindowMs: 50 }) })
    expect(res.status).toBe(202)
    const body = await res.json() as { jobId: string }
    expect(Object.keys(body)).toEqual(['jobId'])
    // Nobody serves the spec: the job fails on its own, and its result says so.
    const result = await fetch(`${api.url}/v1/jobs/${body.jobId}/result`, { headers: auth }).then(async r => await r.json()) as { status: string, reason: string }
    expect(result.status).toBe('failed')

    const unknown = 'bagaaierasmfdn36r7f3pcdqdl3vbpm3a24sseioaanh5lbnpao7pxmc4pqib'
    for (const [method, path] of [['GET', 'events'], ['GET', 'result'], ['POST', 'cancel']] as const) {
      const r = await fetch(`${api.url}/v1/jobs/${unknown}/${path}`, { method, headers: auth })
      expect(r.status, `${method} ${path}`).toBe(404)
      expect(((await r.json()) as { error: { message: string } }).error.message).toContain(unknown)
    }
    const badResume = await fetch(`${api.url}/v1/jobs/${body.jobId}/events`, { headers: { ...auth, 'last-event-id': 'x' } })
    expect(badResume.status).toBe(400)
    const cli = await runCli(['job', 'watch', unknown, '--home', daemon.home])
    expect(cli.code).toBe(1)
    expect(cli.stderr).toContain(`no record of job ${unknown}`)
  }, 60_000)

  it('Ctrl+C on job submit prints the job id, that it keeps running, and how to watch or cancel it', async () => {
    const { daemon, specId } = await meshWithSlowAgent(2)
    const child = spawn(NODE, [BIN, 'job', 'submit', specId, '--input', INPUT, '--bid-window-ms', '500', '--home', daemon.home], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c })
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c })
    const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
    try {
      const running = await waitFor(async () => {
        const jobs = await runJson(['job', 'list', '--home', daemon.home]) as Array<{ jobId: string, status: string }>
        return jobs.find(j => j.status === 'running')
      }, { timeoutMs: 15_000, what: 'the job to be running' })
      child.kill('SIGINT')
      expect(await exited).toBe(130)
      expect(stdout).toBe('')
      expect(stderr).toContain(`job ${running.jobId} keeps running on the daemon`)
      expect(stderr).toContain(`specmesh job watch ${running.jobId}`)
      expect(stderr).toContain(`specmesh job cancel ${running.jobId}`)
      // It did keep running, to its end.
      const waited = await runJson(['job', 'wait', running.jobId, '--home', daemon.home], { timeoutMs: 30_000 })
      expect(waited.status).toBe('succeeded')
    } finally {
      child.kill('SIGKILL')
    }
  }, 60_000)
})

describe('cancel and graceful stop through the command line', () => {
  it('job cancel on a running job kills the handler; the receipt says cancelled and nothing is charged', async () => {
    const pidFile = join(await tempHome(), 'handler.pid')
    const { daemon, specId, agentId } = await meshWithSlowAgent(60, pidFile)
    const home = ['--home', daemon.home]
    const { jobId } = await runJson(['job', 'submit', specId, '--input', INPUT, '--bid-window-ms', '500', '--no-wait', ...home])
    const pid = await waitFor(async () => Number(await readFile(pidFile, 'utf8').catch(() => '')) || null, { timeoutMs: 20_000, what: 'the handler to start' })
    expect(alive(pid)).toBe(true)

    const cancelled = await runCli(['job', 'cancel', jobId, ...home], { timeoutMs: 20_000 })
    expect(cancelled.code, cancelled.stderr).toBe(0)
    expect(cancelled.stdout).toContain(`job ${jobId} cancelled`)
    expect(cancelled.stdout).toMatch(/1 +…\S+ +cancelled +0\.02 USD/)
    // The handler was terminated, not left to run its 60 s.
    await waitFor(() => !alive(pid), { timeoutMs: 5_000, what: `handler ${pid} to be killed` })

    const record = await runJson(['job', 'status', jobId, ...home])
    expect(record).toMatchObject({ status: 'cancelled', costUsd: 0, reason: 'cancelled by the requester' })
    const receipt = await runJson(['receipt', 'show', record.attempts[0].receiptId, ...home])
    expect(receipt.body).toMatchObject({ outcome: 'cancelled', costUsd: 0, agent: agentId })
    expect(receipt.body.claim.body).toMatchObject({ outcome: 'cancelled', costUsd: 0 })
    const ledger = await runJson(['ledger', '--spec', specId, ...home])
    expect(ledger.jobs.find((j: { jobId: string }) => j.jobId === jobId)).toMatchObject({ spentUsd: 0, reservedUsd: 0 })
    const events = await runCli(['job', 'watch', jobId, '--json', ...home])
    expect(events.stdout.trim().split('\n').map(l => JSON.parse(l).type).slice(-4)).toEqual(['attempt-started', 'attempt-ended', 'receipt', 'done'])
    // Cancelling again changes nothing.
    const again = await runCli(['job', 'cancel', jobId, ...home])
    expect(again.stdout).toContain('had already ended (cancelled)')
  }, 90_000)
})

describe('graceful agent stop through the command line', () => {
  it('the first Ctrl+C drains: the running job finishes, new jobs go elsewhere, nobody retries the stopped agent, its reputation does not fall', async () => {
    // The handler writes its pid when it starts: the test sees the first job start at the slow agent at once, by
    // the file, where a poll of `job status` (a CLI process each, seconds apiece on a loaded machine) could miss
    // all of a 3 s run. 6 s leave room for the SIGINT to land while it still runs.
    const pidFile = join(await tempHome(), 'slow-handler.pid')
    const { daemon, specId, agentId: slowId } = await meshWithSlowAgent(6, pidFile)
    const home = ['--home', daemon.home]
    const addr = (await runJson(['id', ...home])).multiaddrs[0]
    const fast = await startAgent(['--spec', specId, '--exec', `python3 ${join(ROOT, 'test/fixtures/agents/extract_entities.py')}`, '--price', '0.04', '--bootstrap', addr])
    await waitFor(async () => (await runJson(['peers', ...home]) as Array<{ peerId: string }>).some(p => p.peerId === fast.peerId), { timeoutMs: 15_000, what: 'the daemon to connect to the second agent' })
    const slow = agentProcesses().find(a => a.peerId === slowId)!

    // The slow agent is cheaper: it gets the first job (explore off: by reputation mean and price).
    const { jobId: first } = await runJson(['job', 'submit', specId, '--input', INPUT, '--bid-window-ms', '1000', '--explore', 'off', '--no-wait', ...home])
    await waitFor(async () => Number(await readFile(pidFile, 'utf8').catch(() => '')) || null, { timeoutMs: 15_000, what: 'the first job to run at the slow agent (its handler to write its pid)' })
    slow.child.kill('SIGINT')
    await waitFor(() => slow.stderr().includes('agent.stopping'), { timeoutMs: 10_000, what: 'the agent to say it is stopping' })
    expect(slow.stderr()).toMatch(/letting 1 running job finish/)

    // While it drains, a new job goes to the other agent: the stopping one neither bids nor is awarded.
    const second = await runJson(['job', 'submit', specId, '--input', INPUT, '--bid-window-ms', '1000', ...home], { timeoutMs: 30_000 })
    expect(second.status).toBe('succeeded')
    expect(second.attempts.map((a: { agent: string }) => a.agent)).toEqual([fast.peerId])

    // The running job finished where it ran, and the agent then left on its own.
    const done = await runJson(['job', 'wait', first, ...home], { timeoutMs: 30_000 })
    expect(done).toMatchObject({ status: 'succeeded', costUsd: 0.02 })
    expect(done.attempts.map((a: { agent: string }) => a.agent)).toEqual([slowId])
    await waitFor(() => slow.exited(), { timeoutMs: 20_000, what: 'the drained agent to exit' })
    expect(slow.exitCode()).toBe(0)
    expect(slow.stderr()).toContain('agent.drained')

    // A job after it left: no attempt at the agent that is gone.
    const third = await runJson(['job', 'submit', specId, '--input', INPUT, '--bid-window-ms', '500', ...home], { timeoutMs: 30_000 })
    expect(third.attempts.map((a: { agent: string }) => a.agent)).toEqual([fast.peerId])

    const reputation = await runJson(['reputation', ...home])
    const slowRep = reputation.agents.find((a: { agent: string }) => a.agent === slowId)
    expect(slowRep.evidence.outcomes).toMatchObject({ success: 1, error: 0, timeout: 0 })
    expect(slowRep.score).toBeGreaterThan(0.5)
  }, 120_000)
})

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
