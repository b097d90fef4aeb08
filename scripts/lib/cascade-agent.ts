/**
 * bench:cascade's agent, in a process of its own, driven by the bench over IPC
 * (protocol in cascade-scenario.ts). A real specmesh node (LevelDB in a
 * temporary home, TCP on 127.0.0.1) serving the cascade spec with a handler
 * that runs on the SharedMachine model. Its own process, so that the five
 * requesters' work does not delay when this machine notices a finished job:
 * in one shared process that lateness (8–19 ms a job) was counted as the
 * agent's lost capacity.
 *
 * The process exits when the bench goes away (IPC disconnect).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, type Node } from '../../src/node.ts'
import { CORES, PRICE, SERVICE_MS, cascadeSpec, type FromAgent, type ToAgent } from './cascade-scenario.ts'
import { SharedMachine } from './shared-machine.ts'

const send = (message: FromAgent): void => { if (process.connected) process.send!(message) }

let node: Node | undefined
let home: string | undefined
let cpuAtMark = process.cpuUsage()
const machine = new SharedMachine(CORES, SERVICE_MS, {
  started: (jobId, at) => { send({ event: 'exec', jobId, phase: 'started', at }) },
  ended: (jobId, at) => { send({ event: 'exec', jobId, phase: 'ended', at }) }
})

function need (): Node {
  if (node == null) throw new Error('the agent is not started')
  return node
}

async function handle (message: ToAgent): Promise<FromAgent> {
  switch (message.cmd) {
    case 'start':
      home = await mkdtemp(join(tmpdir(), 'specmesh-cascade-agent-'))
      node = await createNode({
        home,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        market: { advertIntervalMs: 500 },
        log: (event, fields) => {
          const jobId = fields?.jobId as string
          if (event === 'agent.bid') send({ event: 'step', jobId, step: 'bid', at: Date.now() })
          else if (event === 'agent.awarded') send({ event: 'step', jobId, step: 'awardArrived', at: Date.now() })
        }
      })
      return { event: 'started', addr: `${node.multiaddrs()[0]!}` }
    case 'serve': {
      const { id: specId } = await need().publishSpec(cascadeSpec)
      await need().serve(specId, async (_input, { signal, softDeadline, jobId }) => {
        await machine.work(jobId, signal, softDeadline)
        return { entities: [{ name: 'done', confidence: 99 }] }
      }, { priceUsd: PRICE, estimatedMs: SERVICE_MS, admission: message.mode === 'naive' ? 'none' : 'spec' })
      return { event: 'serving', specId }
    }
    case 'mark':
      machine.reset()
      cpuAtMark = process.cpuUsage()
      return { event: 'marked' }
    case 'figures': {
      const cpu = process.cpuUsage(cpuAtMark)
      return { event: 'figures', machine: machine.report(), cpuMs: (cpu.user + cpu.system) / 1000 }
    }
    case 'stop':
      await shutdown()
      return { event: 'stopped' }
  }
}

async function shutdown (): Promise<void> {
  const n = node
  node = undefined
  if (n != null) await n.stop().catch(() => {})
  if (home != null) await rm(home, { recursive: true, force: true }).catch(() => {})
  home = undefined
}

process.on('message', (message: ToAgent) => {
  handle(message).then(send, (err: Error) => { send({ event: 'error', message: err.stack ?? err.message }) })
})
process.on('disconnect', () => { void shutdown().finally(() => process.exit(0)) })
send({ event: 'ready' })
