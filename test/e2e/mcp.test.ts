/**
 * `specmesh mcp` with the official MCP client SDK, against real processes: a
 * `specmesh daemon` coordinates, a `specmesh agent` runs a Python handler, and
 * the client starts `specmesh mcp` on stdio (as Claude Desktop or an IDE
 * would) or connects to the daemon's Streamable HTTP endpoint with the token.
 */
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ToolListChangedNotificationSchema, type Progress } from '@modelcontextprotocol/sdk/types.js'
import { BIN, killSpawned, NODE, removeTempHomes, ROOT, runJson, startAgent, startDaemon, tempHome } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'
import { parseSpecText } from '../../src/spec/index.ts'

const SPEC = join(ROOT, 'test/fixtures/agents/extract-entities.yaml')
const EXTRACT = `python3 ${join(ROOT, 'test/fixtures/agents/extract_entities.py')}`
/** A second spec nobody serves: its jobs fail for want of a bid. */
const UNSERVED = join(ROOT, 'examples/summarize.json')
const TOOL = 'extract-entities-e2e_v1_0_0'
/** Long enough that the agent's bid arrives on a loaded two-core machine too. */
const BID_WINDOW = { 'specmesh/bidWindowMs': 1500 }

const clients: Client[] = []
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map(async c => await c.close()))
  await killSpawned()
  await removeTempHomes()
})

async function stdioClient (home: string): Promise<Client> {
  const client = new Client({ name: 'specmesh-test', version: '1.0.0' })
  clients.push(client)
  await client.connect(new StdioClientTransport({ command: NODE, args: [BIN, 'mcp', '--home', home], cwd: ROOT, stderr: 'pipe' }))
  return client
}

describe('specmesh mcp', () => {
  it('lists the specs as tools, runs a job through a tool call with progress, output, receipt and cost, and follows new specs', async () => {
    const daemon = await startDaemon(await tempHome())
    const published = await runJson(['spec', 'publish', SPEC, '--home', daemon.home])
    const addr = (await runJson(['id', '--home', daemon.home])).multiaddrs[0]
    const agent = await startAgent(['--spec', published.id, '--exec', EXTRACT, '--price', '0.04', '--bootstrap', addr])

    const client = await stdioClient(daemon.home)
    expect(client.getServerCapabilities()?.tools?.listChanged).toBe(true)
    const { tools } = await client.listTools()
    const spec = parseSpecText(await readFile(SPEC, 'utf8')) as { input: unknown, output: unknown }
    expect(tools).toHaveLength(1)
    expect(tools[0]).toMatchObject({ name: TOOL, inputSchema: spec.input, outputSchema: spec.output, _meta: { 'specmesh/specId': published.id } })
    expect(tools[0]!.description).toContain('extract named entities from text')

    await waitFor(async () => (await runJson(['peers', '--home', daemon.home]) as Array<{ peerId: string }>).some(p => p.peerId === agent.peerId), { timeoutMs: 15_000, what: 'the daemon to connect to the agent' })
    // The agent's adverts reach the coordinator a moment after it connects: call until it bids.
    let progress: Progress[] = []
    const result = await waitFor(async () => {
      progress = []
      const r = await client.callTool(
        { name: TOOL, arguments: { text: 'Ada Lovelace met Charles Babbage' }, _meta: BID_WINDOW },
        undefined,
        { onprogress: p => { progress.push(p) }, timeout: 30_000 }
      )
      return r.isError === true && /no agent bid/.test(JSON.stringify(r.content)) ? null : r
    }, { timeoutMs: 45_000, intervalMs: 500, what: 'a tool call that an agent bid on' })
    expect(result.isError, JSON.stringify(result.content)).toBeFalsy()
    expect(result.structuredContent).toEqual({ entities: ['Ada', 'Lovelace', 'Charles', 'Babbage'].map(name => ({ name, confidence: 90 })) })
    const meta = result._meta as Record<string, unknown>
    expect(meta).toMatchObject({ 'specmesh/costUsd': 0.04, 'specmesh/agent': agent.peerId, 'specmesh/specId': published.id })
    // The receipt id names a receipt the node holds, for this job.
    const receipt = await runJson(['receipt', 'show', meta['specmesh/receiptId'] as string, '--home', daemon.home])
    expect(receipt).toMatchObject({ id: meta['specmesh/receiptId'], body: { jobId: meta['specmesh/jobId'], outcome: 'success', costUsd: 0.04 } })
    // The job's steps (its events) before its result, in order.
    expect(progress[0]).toMatchObject({ progress: 1, message: 'submitted' })
    expect(progress.map(p => p.message)).toContain(`awarded to ${agent.peerId}`)
    expect(progress.map(p => p.progress)).toEqual([...progress.map(p => p.progress)].sort((a, b) => a - b))

    // The same tool called as a task (MCP's task support): the task at once, working while the job runs, then the result.
    expect(tools[0]!.execution?.taskSupport).toBe('optional')
    expect(client.getServerCapabilities()?.tasks?.requests?.tools?.call).toBeDefined()
    const messages: any[] = []
    for await (const m of client.experimental.tasks.callToolStream({ name: TOOL, arguments: { text: 'Grace Hopper' }, _meta: BID_WINDOW }, undefined, { timeout: 30_000 })) messages.push(m)
    expect(messages[0]).toMatchObject({ type: 'taskCreated', task: { status: 'working' } })
    // Its status message is the job's latest step: at the end, the receipt.
    expect(messages.filter(m => m.type === 'taskStatus').at(-1).task).toMatchObject({ status: 'completed', statusMessage: expect.stringMatching(/^receipt \S+: success, 0.04 USD$/) })
    const taskResult = messages.at(-1)
    expect(taskResult.type, JSON.stringify(taskResult)).toBe('result')
    expect(taskResult.result.structuredContent).toEqual({ entities: ['Grace', 'Hopper'].map(name => ({ name, confidence: 90 })) })
    expect(taskResult.result._meta).toMatchObject({ 'specmesh/costUsd': 0.04, 'specmesh/agent': agent.peerId })
    expect((await client.experimental.tasks.getTask(messages[0].task.taskId)).status).toBe('completed')

    // A spec that arrives is a new tool, announced with list-changed; a job nobody bids on is a tool error with the reason.
    let changed = 0
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => { changed++ })
    const second = await runJson(['spec', 'publish', UNSERVED, '--home', daemon.home])
    await waitFor(() => changed > 0, { what: 'a tools/list_changed notification' })
    const after = (await client.listTools()).tools
    const added = after.find(t => t._meta?.['specmesh/specId'] === second.id)
    expect(after).toHaveLength(2)
    expect(added).toBeDefined()
    const failed = await client.callTool({ name: added!.name, arguments: { transcript: 'nobody serves this' }, _meta: { 'specmesh/bidWindowMs': 50 } })
    expect(failed.isError).toBe(true)
    expect((failed.content as Array<{ text: string }>)[0]!.text).toMatch(/^job \S+ failed: no agent bid/)
    // A task cancelled with tasks/cancel cancels its job (here still collecting bids nobody sends).
    const waiting = client.experimental.tasks.callToolStream({ name: added!.name, arguments: { transcript: 'cancel me' }, _meta: { 'specmesh/bidWindowMs': 5000 } })
    const created = (await waiting.next()).value as any
    expect(created.type).toBe('taskCreated')
    await waitFor(async () => (await runJson(['job', 'list', '--spec', second.id, '--status', 'bidding', '--home', daemon.home]) as unknown[]).length === 1, { what: 'the task\'s job to be bidding' })
    expect((await client.experimental.tasks.cancelTask(created.task.taskId)).status).toBe('cancelled')
    await waiting.return(undefined)
    await waitFor(async () => (await runJson(['job', 'list', '--spec', second.id, '--status', 'cancelled', '--home', daemon.home]) as unknown[]).length === 1, { what: 'the task\'s job to be cancelled' })
    expect((await client.experimental.tasks.getTask(created.task.taskId)).status).toBe('cancelled')
    // Arguments that do not match the input schema: a tool error naming the field, and no job.
    const bad = await client.callTool({ name: added!.name, arguments: { text: 'wrong field' } })
    expect(bad.isError).toBe(true)
    expect((bad.content as Array<{ text: string }>)[0]!.text).toMatch(/^input: .*"transcript"/)
    }, 120_000)

  it('serves the same over Streamable HTTP on the local API, with the bearer token', async () => {
    const daemon = await startDaemon(await tempHome())
    await runJson(['spec', 'publish', SPEC, '--home', daemon.home])
    const token = (await readFile(join(daemon.home, 'api-token'), 'utf8')).trim()
    const url = new URL('/mcp', daemon.api.url)

    const client = new Client({ name: 'specmesh-test', version: '1.0.0' })
    clients.push(client)
    await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${token}` } } }))
    expect((await client.listTools()).tools.map(t => t.name)).toEqual([TOOL])

    const stranger = new Client({ name: 'stranger', version: '1.0.0' })
    clients.push(stranger)
    await expect(stranger.connect(new StreamableHTTPClientTransport(url))).rejects.toThrow(/401|bearer token/)
  })

  it('says how to start a daemon when none is running', async () => {
    const home = await tempHome()
    const client = new Client({ name: 'specmesh-test', version: '1.0.0' })
    const transport = new StdioClientTransport({ command: NODE, args: [BIN, 'mcp', '--home', home], cwd: ROOT, stderr: 'pipe' })
    let stderr = ''
    transport.stderr?.on('data', (c: Buffer) => { stderr += c.toString() })
    await expect(client.connect(transport)).rejects.toThrow()
    await waitFor(() => stderr.includes('no daemon is running'), { what: 'the error on stderr' })
    expect(stderr).toContain(`specmesh daemon --home ${home}`)
  })
})
