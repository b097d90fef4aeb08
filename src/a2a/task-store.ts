import { Task, TaskState, type ListTasksRequest, type ListTasksResponse } from '@a2a-js/sdk'
import { defaultServerCallContextBuilder, InMemoryTaskStore, UnauthenticatedUser, type ServerCallContext, type TaskStore } from '@a2a-js/sdk/server'
import { values, type Sublevel } from '../store/db.ts'

/** A task as it lies on disk: the SDK's JSON form, and the tenant it was saved under. */
interface StoredTask {
  tenant: string
  task: unknown
}

/** The states after which a task never changes. */
const TERMINAL: readonly TaskState[] = [TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED]

export function isTerminalTask (task: Task): boolean {
  return task.status?.state != null && TERMINAL.includes(task.status.state)
}

/**
 * A2A tasks in the node's LevelDB, so `GetTask` and `ListTasks` still answer
 * after the daemon restarts, as the jobs behind the tasks do. Every save is
 * written through to disk; reads and listing go to the SDK's in-memory store,
 * filled from disk on first use (it holds the SDK's own filtering and paging).
 *
 * A task still open when the node stopped has no executor any more: on that
 * first load, `settle` turns each one into what became of its job (the node
 * closes interrupted jobs at start) before anything reads it.
 */
export class LevelTaskStore implements TaskStore {
  private readonly level: Sublevel
  private readonly settle: (task: Task) => Promise<Task>
  private readonly memory = new InMemoryTaskStore()
  private loaded?: Promise<void>

  constructor (level: Sublevel, settle: (task: Task) => Promise<Task> = async task => task) {
    this.level = level
    this.settle = settle
  }

  async save (task: Task, context: ServerCallContext): Promise<void> {
    await this.load_()
    const record: StoredTask = { tenant: context.tenant ?? '', task: Task.toJSON(task) }
    await this.level.put(task.id, record)
    await this.memory.save(task, context)
  }

  async load (taskId: string, context: ServerCallContext): Promise<Task | undefined> {
    await this.load_()
    return await this.memory.load(taskId, context)
  }

  async list (params: ListTasksRequest, context: ServerCallContext): Promise<ListTasksResponse> {
    await this.load_()
    return await this.memory.list(params, context)
  }

  /** Fill memory from disk, once; settle the tasks a stop left open and write back what changed. */
  private async load_ (): Promise<void> {
    this.loaded ??= (async () => {
      for (const record of await values<StoredTask>(this.level)) {
        const stored = Task.fromJSON(record.task)
        const task = isTerminalTask(stored) ? stored : await this.settle(stored)
        // The API has one caller identity (the bearer token); tasks are scoped by tenant only.
        const context = defaultServerCallContextBuilder({ extensions: undefined, user: new UnauthenticatedUser(), headers: {}, ...(record.tenant !== '' ? { tenant: record.tenant } : {}) })
        if (task !== stored) await this.level.put(task.id, { tenant: record.tenant, task: Task.toJSON(task) })
        await this.memory.save(task, context)
      }
    })()
    await this.loaded
  }
}
