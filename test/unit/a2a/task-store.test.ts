import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Role, TaskState, type Task } from '@a2a-js/sdk'
import { defaultServerCallContextBuilder, UnauthenticatedUser } from '@a2a-js/sdk/server'
import { openDb, sublevel } from '../../../src/store/db.ts'
import { LevelTaskStore } from '../../../src/a2a/task-store.ts'
import { settleOpenTask } from '../../../src/a2a/executor.ts'

const homes: string[] = []
afterEach(async () => { await Promise.all(homes.splice(0).map(async h => await rm(h, { recursive: true, force: true }))) })

const context = () => defaultServerCallContextBuilder({ extensions: undefined, user: new UnauthenticatedUser(), headers: {} })

function task (id: string, state: TaskState, metadata: Record<string, unknown> = {}): Task {
  return {
    id,
    contextId: 'ctx',
    status: { state, timestamp: new Date().toISOString(), message: undefined },
    artifacts: [],
    history: [{ messageId: `m-${id}`, contextId: 'ctx', taskId: id, role: Role.ROLE_USER, parts: [{ content: { $case: 'data', value: { text: 'x' } }, metadata: undefined, filename: '', mediaType: 'application/json' }], metadata: undefined, extensions: [], referenceTaskIds: [] }],
    metadata
  }
}

describe('A2A tasks in LevelDB', () => {
  it('answers load and list after the database is opened again, and settles only the tasks a stop left open', async () => {
    const home = await mkdtemp(join(tmpdir(), 'specmesh-a2a-tasks-'))
    homes.push(home)
    let db = await openDb(join(home, 'db'))
    const first = new LevelTaskStore(sublevel(db, 'surface-a2a-tasks'))
    await first.save(task('done', TaskState.TASK_STATE_COMPLETED), context())
    await first.save(task('open', TaskState.TASK_STATE_WORKING, { 'specmesh/jobId': 'job-1' }), context())
    await first.save(task('never-started', TaskState.TASK_STATE_SUBMITTED), context())
    await db.close()

    db = await openDb(join(home, 'db'))
    const jobs = new Map([['job-1', { jobId: 'job-1', specId: 'spec-1', specName: 's', status: 'failed' as const, reason: 'interrupted: the node stopped while the job was running; no result was recorded', submittedAt: 0, deadline: 0, maxUsd: 1, inputHash: 'h', costUsd: 0, attempts: [] }]])
    const settled: string[] = []
    const second = new LevelTaskStore(sublevel(db, 'surface-a2a-tasks'), async t => { settled.push(t.id); return await settleOpenTask(t, async id => jobs.get(id) ?? null) })
    expect((await second.load('done', context()))?.status?.state).toBe(TaskState.TASK_STATE_COMPLETED)
    const open = await second.load('open', context())
    expect(open?.status?.state).toBe(TaskState.TASK_STATE_FAILED)
    expect(open?.status?.message?.parts[0]?.content).toEqual({ $case: 'text', value: 'job job-1 failed: interrupted: the node stopped while the job was running; no result was recorded' })
    expect((await second.load('never-started', context()))?.status?.state).toBe(TaskState.TASK_STATE_FAILED)
    expect(settled.sort()).toEqual(['never-started', 'open'])
    expect((await second.list({ tenant: '', contextId: '', status: TaskState.TASK_STATE_UNSPECIFIED, pageToken: '', statusTimestampAfter: undefined } as never, context())).tasks.map(t => t.id).sort()).toEqual(['done', 'never-started', 'open'])
    await db.close()

    // The settled state was written back: a third start settles nothing.
    db = await openDb(join(home, 'db'))
    const third = new LevelTaskStore(sublevel(db, 'surface-a2a-tasks'), async t => { throw new Error(`settled ${t.id} again`) })
    expect((await third.load('open', context()))?.status?.state).toBe(TaskState.TASK_STATE_FAILED)
    await db.close()
  })
})
