import { ApiClient } from '../../api/client.ts'
import type { NodeStatus } from '../../api/routes/status.ts'
import type { Command } from '../command.ts'
import { formatTable, printJson, printLines, shortPeerId } from '../output.ts'

function counts (byState: Record<string, number>): string {
  const parts = Object.entries(byState).filter(([, n]) => n > 0).map(([state, n]) => `${n} ${state}`)
  return parts.length === 0 ? 'none' : parts.join(', ')
}

function ago (at: number, now: number): string {
  const s = Math.max(0, Math.round((now - at) / 1000))
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'what the running node is doing: peers, specs, jobs in flight, last errors',
  description: [
    'One look at the running daemon: the peers it is connected to, the specs it holds and',
    'serves (with executions in flight against each limit), its jobs in flight by state and',
    'in all by outcome, and the last errors: failed jobs with their reason, and gossip',
    'messages it rejected from peers. --json prints GET /v1/status as is.'
  ].join('\n'),
  examples: ['specmesh status', 'specmesh status --home ./node-a --json'],
  run: async ({ home, json, io }) => {
    const status = await new ApiClient({ home }).request('GET', '/v1/status') as NodeStatus
    if (json) {
      printJson(io, status)
      return
    }
    const lines = [
      `peer id   ${status.peerId}`,
      `peers     ${status.peers.count}${status.peers.count > 0 ? ` (${status.peers.peerIds.slice(0, 5).map(shortPeerId).join(', ')}${status.peers.count > 5 ? ', …' : ''})` : ''}`,
      `specs     ${status.specs.held} held, ${status.specs.served.length} served`,
      ...status.specs.served.map(s => `            ${s.name}  ${s.inFlight}/${s.limit} running  at ${s.priceUsd} USD  (${s.specId})`),
      `jobs      in flight: ${counts(status.jobs.inFlight)}; all ${status.jobs.total}: ${counts(status.jobs.byStatus)}`,
      `metrics   ${status.metrics ? 'on (GET /metrics)' : 'off'}`,
      `ed25519   ${status.ed25519.backend}${status.ed25519.reason != null ? ` (${status.ed25519.reason})` : ''}`
    ]
    if (status.lastErrors.length === 0) lines.push('errors    none')
    else {
      lines.push('last errors')
      lines.push(...formatTable(['WHEN', 'KIND', 'REF', 'MESSAGE'], status.lastErrors.map(e => [ago(e.at, status.at), e.kind, e.kind === 'gossip' ? shortPeerId(e.ref) : e.ref, e.message.replace(/\s+/g, ' ').slice(0, 120)])).map(l => `  ${l}`))
    }
    printLines(io, lines)
  }
}
