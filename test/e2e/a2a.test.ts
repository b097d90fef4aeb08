/**
 * A2A with the official client of @a2a-js/sdk against real processes: a
 * `specmesh daemon` serves the Agent Card and JSON-RPC on its local API, and
 * `specmesh agent` processes run the jobs behind the tasks.
 */
import { randomUUID } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Role, TaskState, type SendMessageRequest, type Task } from '@a2a-js/sdk'
import { ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory } from '@a2a-js/sdk/client'
import { killSpawned, removeTempHomes, ROOT, runJson, startAgent, startDaemon, tempHome } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'

const SPEC = join(ROOT, 'test/fixtures/agents/extract-entities.yaml')
const EXTRACT = `python3 ${join(ROOT, 'test/fixtures/agents/extract_entities.py')}`

afterEach(async () => {
  await killSpawned()
  await removeTempHomes()
})

function message (data: unknown, metadata: Record<string, unknown> = {}): SendMessageRequest {
  return {
    tenant: '',
    metadata: {},
    configuration: undefined,
    message: {
      messageId: randomUUID(),
      role: Role.ROLE_USER,
      parts: [{ content: { $case: 'data', value: data }, metadata: undefined, filename: '', mediaType: 'application/json' }],
      taskId: '',
      contextId: '',
      extensions: [],
      metadata,
      referenceTaskIds: []
    }
  }
}

function text (status: { message?: { parts: Array<{ content?: { $case: string, value: unknown } }> } } | undefined): string {
  const content = status?.message?.parts[0]?.content
  return content?.$case === 'text' ? String(content.value) : ''
}

describe('A2A', () => {
  it('serves an Agent Card of the specs; a message runs a job whose updates stream; another task is cancelled and so is its job', async () => {
    const daemon = await startDaemon(await tempHome())
    const work = await tempHome()
    const sleepyFile = join(work, 'sleepy.yaml')
    await writeFile(sleepyFile, (await readFile(SPEC, 'utf8')).replace('name: extract-entities-e2e', 'name: sleepy-e2e'))
    const entities = await runJson(['spec', 'publish', SPEC, '--home', daemon.home])
    const sleepy = await runJson(['spec', 'publish', sleepyFile, '--home', daemon.home])
    const addr = (await runJson(['id', '--home', daemon.home])).multiaddrs[0]
    const agent = await startAgent(['--spec', entities.id, '--exec', EXTRACT, '--spec', sleepy.id, '--exec', 'sleep 60', '--price', '0.04', '--bootstrap', addr])
    await waitFor(async () => (await runJson(['peers', '--home', daemon.home]) as Array<{ peerId: string }>).some(p => p.peerId === agent.peerId), { timeoutMs: 15_000, what: 'the daemon to connect to the agent' })

    // The card is public (discovery); it names the bearer token every call needs.
    const cardResponse = await fetch(new URL('/.well-known/agent-card.json', daemon.api.url))
    expect(cardResponse.status).toBe(200)
    const stranger = await fetch(new URL('/a2a', daemon.api.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'GetTask', params: { id: 'x' } }) })
    expect(stranger.status).toBe(401)
    const token = (await readFile(join(daemon.home, 'api-token'), 'utf8')).trim()
    const authed: typeof fetch = async (input, init) => await fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers).entries()), authorization: `Bearer ${token}` } })
    const factory = new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { transports: [new JsonRpcTransportFactory({ fetchImpl: authed })] }))
    const client = await factory.createFromUrl(daemon.api.url)
    const card = await client.getAgentCard()
    expect(card.skills.map(s => s.id).sort()).toEqual([entities.id, sleepy.id].sort())
    expect(card.skills.find(s => s.id === entities.id)?.name).toBe('extract-entities-e2e 1.0.0')
    expect(card.capabilities?.streaming).toBe(true)

    // A data part matching one spec's input runs a job; the task's updates stream until it completes.
    let states: TaskState[] = []
    let notes: string[] = []
    let artifact: any
    let taskId = ''
    // The agent's adverts reach the coordinator a moment after it connects: send until it bids.
    await waitFor(async () => {
      states = []
      notes = []
      // Both specs take { text }: the skill is named in the message's metadata.
      for await (const event of client.sendMessageStream(message({ text: 'Ada Lovelace met Charles Babbage' }, { skillId: entities.id }))) {
        const payload = event.payload
        if (payload?.$case === 'task') taskId = payload.value.id
        if (payload?.$case === 'statusUpdate') {
          states.push(payload.value.status!.state)
          notes.push(text(payload.value.status))
        }
        if (payload?.$case === 'artifactUpdate') artifact = payload.value.artifact
      }
      return !/no agent bid/.test(notes.at(-1) ?? '')
    }, { timeoutMs: 45_000, intervalMs: 500, what: 'a task whose job an agent bid on' })
    expect(states.at(-1)).toBe(TaskState.TASK_STATE_COMPLETED)
    expect(states).toContain(TaskState.TASK_STATE_WORKING)
    expect(notes).toContain(`awarded to ${agent.peerId}`)
    expect(artifact.parts[0].content).toEqual({ $case: 'data', value: { entities: ['Ada', 'Lovelace', 'Charles', 'Babbage'].map(name => ({ name, confidence: 90 })) } })
    expect(artifact.metadata).toMatchObject({ 'specmesh/costUsd': 0.04, 'specmesh/agent': agent.peerId })
    const receipt = await runJson(['receipt', 'show', artifact.metadata['specmesh/receiptId'], '--home', daemon.home])
    expect(receipt.body).toMatchObject({ jobId: artifact.metadata['specmesh/jobId'], outcome: 'success' })
    const fetched = await client.getTask({ tenant: '', id: taskId, historyLength: 0 })
    expect(fetched.status?.state).toBe(TaskState.TASK_STATE_COMPLETED)
    const completedId = taskId

    // Data that matches two skills' inputs, named by neither: the task fails saying which to name.
    const ambiguousTask = await client.sendMessage(message({ text: 'which one?' })) as Task
    expect(ambiguousTask.status?.state).toBe(TaskState.TASK_STATE_FAILED)
    expect(text(ambiguousTask.status as never)).toMatch(/matches the input of 2 skills .* name one in the message's metadata\.skillId/)

    // A task whose job runs long is cancelled through A2A: the task ends canceled and the job is cancelled.
    const stream = client.sendMessageStream(message({ text: 'take your time' }, { skillId: sleepy.id }))
    let cancelled: any
    let jobId = ''
    let final: TaskState | undefined
    for await (const event of stream) {
      const payload = event.payload
      if (payload?.$case === 'task') taskId = payload.value.id
      if (payload?.$case === 'statusUpdate') {
        final = payload.value.status!.state
        jobId = (payload.value.metadata?.['specmesh/jobId'] as string | undefined) ?? jobId
        if (text(payload.value.status).startsWith('attempt 1 started') && cancelled == null) {
          cancelled = await client.cancelTask({ tenant: '', id: taskId, metadata: {} })
        }
      }
    }
    expect(cancelled).toBeDefined()
    expect(final).toBe(TaskState.TASK_STATE_CANCELED)
    const job = await runJson(['job', 'status', jobId, '--home', daemon.home])
    expect(job.status).toBe('cancelled')
    const cancelledId = taskId

    // A task still working when the daemon dies (kill -9), then the daemon starts again on the same
    // data folder: every task is still there, and the open one says what became of its job.
    let openId = ''
    for await (const event of client.sendMessageStream(message({ text: 'still running' }, { skillId: sleepy.id }))) {
      const payload = event.payload
      if (payload?.$case === 'task') openId = payload.value.id
      if (payload?.$case === 'statusUpdate' && text(payload.value.status).startsWith('attempt 1 started')) break
    }
    await daemon.stop('SIGKILL')
    const restarted = await startDaemon(daemon.home)
    const again = await factory.createFromUrl(restarted.api.url)
    const completed = await again.getTask({ tenant: '', id: completedId, historyLength: 0 })
    expect(completed.status?.state).toBe(TaskState.TASK_STATE_COMPLETED)
    expect(completed.artifacts[0]?.parts[0]?.content).toEqual(artifact.parts[0].content)
    expect((await again.getTask({ tenant: '', id: cancelledId, historyLength: 0 })).status?.state).toBe(TaskState.TASK_STATE_CANCELED)
    const interrupted = await again.getTask({ tenant: '', id: openId, historyLength: 0 })
    expect(interrupted.status?.state).toBe(TaskState.TASK_STATE_FAILED)
    expect(text(interrupted.status as never)).toMatch(/^job \S+ failed: interrupted: the node stopped while the job was running/)
  }, 150_000)
})
