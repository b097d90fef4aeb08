import { InMemoryTaskStore } from '@modelcontextprotocol/sdk/experimental/tasks'
import type { RequestTaskStore } from '@modelcontextprotocol/sdk/shared/protocol.js'
import type { CallToolResult, Task } from '@modelcontextprotocol/sdk/types.js'

/** How long a finished task's result stays readable when the client asks for no ttl of its own. */
export const TASK_TTL_MS = 60 * 60_000
/** How often a client is told to poll tasks/get: a job's steps come a few hundred ms apart. */
export const TASK_POLL_INTERVAL_MS = 500

/**
 * The SDK's in-memory task store, told when a client cancels a task
 * (tasks/cancel only sets the status), so the job behind it is cancelled too.
 */
class CancellableTaskStore extends InMemoryTaskStore {
  private readonly onCancel: (taskId: string) => void

  constructor (onCancel: (taskId: string) => void) {
    super()
    this.onCancel = onCancel
  }

  override async updateTaskStatus (taskId: string, status: Task['status'], statusMessage?: string, sessionId?: string): Promise<void> {
    await super.updateTaskStatus(taskId, status, statusMessage, sessionId)
    if (status === 'cancelled') this.onCancel(taskId)
  }
}

/** One call as a task: its status message follows the job; its result is the tool result. */
export interface ToolTaskRun {
  signal: AbortSignal
  /** The task's status message: the job's latest step. */
  step: (message: string) => void
}

/**
 * Tool calls as MCP tasks (the SDK's experimental task support): a call made
 * with `task` returns the task at once, the job runs on, tasks/get shows its
 * latest step, tasks/result gives the tool result, tasks/cancel cancels the
 * job. One instance per MCP session, as the SDK's store is.
 */
export class ToolTasks {
  readonly store: InMemoryTaskStore
  private readonly running = new Map<string, AbortController>()

  constructor () {
    this.store = new CancellableTaskStore(taskId => { this.running.get(taskId)?.abort(new Error('the task was cancelled through MCP (tasks/cancel)')) })
  }

  /** Create the task and run `work` for it in the background; a thrown error is a failed task. */
  async start (taskStore: RequestTaskStore, ttl: number | null | undefined, work: (run: ToolTaskRun) => Promise<CallToolResult>): Promise<{ task: Task }> {
    const task = await taskStore.createTask({ ttl: ttl ?? TASK_TTL_MS, pollInterval: TASK_POLL_INTERVAL_MS })
    const controller = new AbortController()
    this.running.set(task.taskId, controller)
    // Steps are written in order, and all of them before the result.
    let steps: Promise<void> = Promise.resolve()
    const step = (message: string): void => {
      steps = steps.then(async () => { if (!controller.signal.aborted) await taskStore.updateTaskStatus(task.taskId, 'working', message) }).catch(() => {})
    }
    void (async () => {
      let result: CallToolResult
      try {
        result = await work({ signal: controller.signal, step })
      } catch (err) {
        result = { isError: true, content: [{ type: 'text', text: (err as Error).message }] }
      } finally {
        this.running.delete(task.taskId)
      }
      // A cancelled task keeps its status; there is no result to store.
      await steps
      if (controller.signal.aborted) return
      await taskStore.storeTaskResult(task.taskId, result.isError === true ? 'failed' : 'completed', result).catch(() => {})
    })()
    return { task }
  }

  /** The session ended: cancel what still runs and drop the store's timers. */
  close (): void {
    for (const controller of this.running.values()) controller.abort(new Error('the MCP session ended'))
    this.running.clear()
    this.store.cleanup()
  }
}
