import { randomUUID } from 'node:crypto'
import { Role, TaskState, type Artifact, type Message, type Part, type Task, type TaskStatusUpdateEvent } from '@a2a-js/sdk'
import { AgentEvent, type AgentExecutor, type ExecutionEventBus, type RequestContext } from '@a2a-js/sdk/server'
import type { JobResult, StoredSpec } from '../node-types.ts'
import type { JobRecord } from '../store/job-store.ts'
import { checkInput } from '../spec/index.ts'
import { describeEvent, JOB_META, jobMeta, liveSpecs, outcomeText, runJob, type SurfaceNode } from '../surfaces/jobs.ts'

/** Keys of task and artifact metadata that carry the job's record. */
export const A2A_META = {
  ...JOB_META,
  event: 'specmesh/event'
} as const

/** Why a message runs no job: the caller's to fix. */
export class A2AInputError extends Error {
  override name = 'A2AInputError'
}

/**
 * A2A tasks as specmesh jobs. A message's data part (or JSON text) is a job's
 * input; the skill (spec) is the one named in metadata.skillId, or else the
 * one spec whose input schema it matches. The job's events become working
 * status updates, its output the task's artifact; a failed job fails the task
 * with the reason, and cancelling the task cancels the job.
 */
export class SpecmeshAgentExecutor implements AgentExecutor {
  private readonly node: SurfaceNode
  private readonly running = new Map<string, AbortController>()

  constructor (node: SurfaceNode) {
    this.node = node
  }

  cancelTask = async (taskId: string, _bus: ExecutionEventBus): Promise<void> => {
    this.running.get(taskId)?.abort(new Error('the task was cancelled through A2A'))
  }

  async execute (ctx: RequestContext, bus: ExecutionEventBus): Promise<void> {
    const { taskId, contextId, userMessage } = ctx
    const update = (state: TaskState, text?: string, metadata: Record<string, unknown> = {}): void => {
      const event: TaskStatusUpdateEvent = {
        taskId,
        contextId,
        status: { state, timestamp: new Date().toISOString(), message: text != null ? agentText(text, taskId, contextId) : undefined },
        metadata
      }
      bus.publish(AgentEvent.statusUpdate(event))
    }
    if (ctx.task == null) {
      bus.publish(AgentEvent.task({
        id: taskId,
        contextId,
        status: { state: TaskState.TASK_STATE_SUBMITTED, timestamp: new Date().toISOString(), message: undefined },
        artifacts: [],
        history: [userMessage],
        metadata: userMessage.metadata
      }))
    }

    let spec: StoredSpec
    let input: unknown
    try {
      input = inputOf(userMessage)
      spec = await this.skillFor(userMessage, input)
    } catch (err) {
      update(TaskState.TASK_STATE_FAILED, (err as Error).message)
      return
    }

    const controller = new AbortController()
    this.running.set(taskId, controller)
    update(TaskState.TASK_STATE_WORKING, `running spec ${spec.spec.name} (${spec.id}) as a job`, { [A2A_META.specId]: spec.id })
    let result: JobResult
    try {
      result = await runJob(this.node, spec.id, input, {
        signal: controller.signal,
        onEvent: event => {
          if (event.type !== 'done') update(TaskState.TASK_STATE_WORKING, describeEvent(event), { [A2A_META.jobId]: event.jobId, [A2A_META.event]: event })
        }
      })
    } catch (err) {
      update(TaskState.TASK_STATE_FAILED, (err as Error).message, { [A2A_META.specId]: spec.id })
      return
    } finally {
      this.running.delete(taskId)
    }

    const end = taskEnd(spec.id, result, controller.signal.aborted)
    if (end.artifact != null) bus.publish(AgentEvent.artifactUpdate({ taskId, contextId, artifact: end.artifact, append: false, lastChunk: true, metadata: end.meta }))
    update(end.state, end.text, end.meta)
  }

  /** The spec a message's input is for. */
  private async skillFor (message: Message, input: unknown): Promise<StoredSpec> {
    const specs = await liveSpecs(this.node)
    const named = message.metadata?.skillId ?? message.metadata?.specId
    if (typeof named === 'string') {
      const spec = specs.find(s => s.id === named)
      if (spec == null) throw new A2AInputError(`no skill ${named}: the agent card lists the skills (spec ids) this node runs`)
      return spec
    }
    const matching = specs.filter(s => checkInput(s.spec, input).ok)
    if (matching.length === 1) return matching[0]!
    if (matching.length === 0) throw new A2AInputError(`the data matches the input of no skill (${specs.length} on the agent card); send the input of one, or name it in the message's metadata.skillId`)
    throw new A2AInputError(`the data matches the input of ${matching.length} skills (${matching.map(s => s.id).join(', ')}); name one in the message's metadata.skillId`)
  }
}

/** The job input of a message: its first data part, else a text part that is JSON. */
function inputOf (message: Message): unknown {
  for (const part of message.parts) {
    if (part.content?.$case === 'data') return part.content.value
  }
  for (const part of message.parts) {
    if (part.content?.$case !== 'text') continue
    try {
      return JSON.parse(part.content.value)
    } catch {}
  }
  throw new A2AInputError('the message has no data part (nor text that is JSON): send the input of one of the skills as a data part')
}

function dataPart (value: unknown): Part {
  return { content: { $case: 'data', value }, metadata: undefined, filename: '', mediaType: 'application/json' }
}

function agentText (text: string, taskId: string, contextId: string): Message {
  return {
    messageId: randomUUID(),
    contextId,
    taskId,
    role: Role.ROLE_AGENT,
    parts: [{ content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: 'text/plain' }],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: []
  }
}

/** The task's last state, its message and metadata, and (for a success) the output as its artifact. */
export function taskEnd (specId: string, result: JobResult, aborted = false): { state: TaskState, text: string, meta: Record<string, unknown>, artifact?: Artifact } {
  const meta = jobMeta(specId, result)
  if (result.status === 'succeeded') {
    return {
      state: TaskState.TASK_STATE_COMPLETED,
      text: outcomeText(result),
      meta,
      artifact: { artifactId: result.jobId, name: 'output', description: `the output of job ${result.jobId}, checked against spec ${specId}`, parts: [dataPart(result.output)], metadata: meta, extensions: [] }
    }
  }
  if (aborted || result.status === 'cancelled') return { state: TaskState.TASK_STATE_CANCELED, text: `job ${result.jobId} cancelled: ${result.reason ?? 'cancelled'}`, meta }
  return { state: TaskState.TASK_STATE_FAILED, text: outcomeText(result), meta }
}

/**
 * A task that was open when the node stopped: its executor is gone, so its
 * state is what became of its job (which the node closed as interrupted at
 * start, if it was still running). A task whose job never started failed.
 */
export async function settleOpenTask (task: Task, getJob: (jobId: string) => Promise<(JobRecord & { output?: unknown }) | null>): Promise<Task> {
  const jobId = task.metadata?.[A2A_META.jobId]
  const record = typeof jobId === 'string' ? await getJob(jobId) : null
  if (record != null && (record.status === 'bidding' || record.status === 'running')) return task
  const end = record != null
    ? taskEnd(record.specId, resultOf(record))
    : { state: TaskState.TASK_STATE_FAILED, text: 'interrupted: the node stopped before this task\'s job was submitted; send the message again', meta: {} as Record<string, unknown> }
  const message = agentText(end.text, task.id, task.contextId)
  return {
    ...task,
    status: { state: end.state, timestamp: new Date().toISOString(), message },
    artifacts: end.artifact != null ? [...task.artifacts.filter(a => a.artifactId !== end.artifact!.artifactId), end.artifact] : task.artifacts,
    history: [...task.history, message],
    metadata: { ...task.metadata, ...end.meta }
  }
}

/** A finished job's stored record as the result it ended with (the receipt by its id and agent, all a task names of it). */
function resultOf (record: JobRecord & { output?: unknown }): JobResult {
  const agent = record.attempts.find(a => a.receiptId === record.receiptId)?.agent
  return {
    jobId: record.jobId,
    status: record.status === 'succeeded' || record.status === 'cancelled' ? record.status : 'failed',
    output: record.output,
    costUsd: record.costUsd,
    attempts: record.attempts,
    ...(record.reason != null ? { reason: record.reason } : {}),
    ...(record.receiptId != null ? { receipt: { id: record.receiptId, body: { agent } } as NonNullable<JobResult['receipt']> } : {})
  }
}
