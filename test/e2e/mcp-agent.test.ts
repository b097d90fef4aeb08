/**
 * An MCP server written with the official SDK joins the market as an agent
 * without glue: `specmesh spec from-mcp` writes the spec from its tool, and
 * `specmesh agent --mcp COMMAND --tool NAME` serves it; a job submitted through
 * a `specmesh daemon` returns the tool's result. Real processes throughout.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { killSpawned, NODE, removeTempHomes, ROOT, runCli, runJson, startAgent, startDaemon, tempHome } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'
import { readFile, writeFile } from 'node:fs/promises'

const SERVER = `${NODE} ${join(ROOT, 'examples/mcp/text-tools.ts')}`
/** Long enough that every connected agent's bid arrives, on a loaded two-core machine too. */
const BID_WINDOW_MS = '1500'

afterEach(async () => {
  await killSpawned()
  await removeTempHomes()
})

/**
 * Submit until the agent has bid (its adverts and the spec's topic reach the
 * coordinator a moment after it connects), and return that job's result.
 */
async function submit (home: string, specId: string, input: unknown): Promise<any> {
  const file = join(home, `input-${Math.random().toString(36).slice(2)}.json`)
  await writeFile(file, JSON.stringify(input))
  return await waitFor(async () => {
    const submitted = await runCli(['job', 'submit', specId, '--input', file, '--bid-window-ms', BID_WINDOW_MS, '--home', home, '--json'], { timeoutMs: 30_000 })
    const result = JSON.parse(submitted.stdout)
    return result.attempts.length > 0 ? result : null
  }, { timeoutMs: 45_000, intervalMs: 500, what: `a job of ${specId} that an agent bid on` })
}

describe('an MCP server as a handler', () => {
  it('spec from-mcp writes the tool\'s spec; agent --mcp serves it; jobs return the tool\'s result, or its error as the reason', async () => {
    const work = await tempHome()
    const listed = await runJson(['spec', 'from-mcp', SERVER])
    expect(listed.map((t: { name: string }) => t.name)).toEqual(['shout', 'count_words', 'refuse'])
    const specFile = join(work, 'shout.yaml')
    const written = await runJson(['spec', 'from-mcp', SERVER, '--tool', 'shout', '--out', specFile])
    expect(written).toMatchObject({ file: specFile, tool: 'shout', ok: true })
    const validated = await runJson(['spec', 'validate', specFile])
    expect(validated.id).toBe(written.id)
    const refuseFile = join(work, 'refuse.yaml')
    await runJson(['spec', 'from-mcp', SERVER, '--tool', 'refuse', '--out', refuseFile])
    // As an author edits the draft: this tool's failures are final, so no retries.
    await writeFile(refuseFile, (await readFile(refuseFile, 'utf8')).replace('maxRetries: 2', 'maxRetries: 0'))

    // The coordinator publishes the specs; the agent, given the same files, serves them.
    const daemon = await startDaemon(await tempHome())
    for (const file of [specFile, refuseFile]) await runJson(['spec', 'publish', file, '--home', daemon.home])
    const addr = (await runJson(['id', '--home', daemon.home])).multiaddrs[0]
    const agent = await startAgent(['--spec', specFile, '--mcp', SERVER, '--tool', 'shout', '--spec', refuseFile, '--mcp', SERVER, '--tool', 'refuse', '--price', '0.01', '--bootstrap', addr])
    expect(agent.serving.map(s => s.specId)).toContain(written.id)
    await waitFor(async () => (await runJson(['peers', '--home', daemon.home]) as Array<{ peerId: string }>).some(p => p.peerId === agent.peerId), { timeoutMs: 15_000, what: 'the daemon to connect to the agent' })

    const result = await submit(daemon.home, written.id, { text: 'specs replace negotiation' })
    expect(result.status, JSON.stringify(result)).toBe('succeeded')
    expect(result.output).toEqual({ text: 'SPECS REPLACE NEGOTIATION', length: 25 })
    expect(result.receipt.body).toMatchObject({ agent: agent.peerId, outcome: 'success', costUsd: 0.01 })

    const refused = await submit(daemon.home, agent.serving[1]!.specId, { text: 'anything' })
    expect(refused.status).toBe('failed')
    expect(refused.attempts[0]).toMatchObject({ agent: agent.peerId, outcome: 'error' })
    expect(refused.attempts[0].reason).toBe('MCP tool refuse returned an error: this tool refuses every text')
    }, 120_000)

  it('refuses to start an agent for a tool the server does not have, naming the ones it has', async () => {
    const specFile = join(await tempHome(), 'shout.yaml')
    await runJson(['spec', 'from-mcp', SERVER, '--tool', 'shout', '--out', specFile])
    const result = await runCli(['agent', '--home', await tempHome(), '--listen', '/ip4/127.0.0.1/tcp/0', '--spec', specFile, '--mcp', SERVER, '--tool', 'whisper'])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('has no tool "whisper"; it has: shout, count_words, refuse')
  })
})
