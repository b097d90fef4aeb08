import { ApiClient } from '../../api/client.ts'
import type { FetchedReport, TrustReport } from '../../api/routes/reputation.ts'
import type { ReputationReport } from '../../reputation/reputation.ts'
import type { Command } from '../command.ts'
import { PAGE_OPTIONS, pageParams, printNextPage, withQuery } from '../paging.ts'
import { formatTable, printJson, printLines, shortPeerId } from '../output.ts'

const HOUR_MS = 60 * 60 * 1000

function fixed (n: number, digits: number): string {
  return n.toFixed(digits)
}

function halfLife (ms: number): string {
  return ms % (24 * HOUR_MS) === 0 ? `${ms / (24 * HOUR_MS)} d` : `${Number((ms / HOUR_MS).toFixed(2))} h`
}

/** Says that what follows was fetched on demand, and from how many peers. */
export function fetchedLine (fetched: FetchedReport, what: string): string {
  return `this node held no receipt ${what}: fetched ${fetched.receipts} from ${fetched.peers} of ${fetched.asked} connected peer${fetched.asked === 1 ? '' : 's'}`
}

export const reputationCommand: Command = {
  name: 'reputation',
  summary: 'show how this node rates agents, from the receipts it holds',
  description: [
    'Each node rates agents itself, per spec name, from the execution receipts it holds: a',
    'Beta estimate of success, score = α / (α + β), where α − 1 and β − 1 are the successes and',
    'failures (criteria-failed, timeout, error) weighted by how far this node trusts the',
    'coordinator that signed each verdict and halved every half-life (7 days by default).',
    'Refusals are counted but not scored. Beside each score, the 95% credible interval of',
    'Beta(α, β): where the agent\'s success rate lies given the evidence; a wide one means',
    'little is known yet.',
    'Awards draw from each bidder\'s posterior (Thompson sampling), so a little-known agent',
    'gets some jobs; a new key starts from the spec\'s newcomer prior, estimated from the',
    'agents rated on it (printed under the table), not from a clean record.',
    'Trust starts at this node and the peers listed in <home>/config.json "trustedPeers", and',
    'spreads to coordinators whose own work trusted coordinators judged successful',
    '(EigenTrust). See protocols/reputation.md.',
    '',
    'With AGENT (a full PeerId), only that agent\'s ratings; when this node holds no receipt',
    'naming it (a newcomer, or a node that does not follow its specs), they are fetched from the',
    'connected peers first (sync by query), and the output says how many came from how many peers.',
    '',
    'The table is sorted by score; --json prints the evidence behind each score (counts by',
    'outcome, the trust-weighted totals, the coordinators whose verdicts count), its',
    '"interval" [low, high], and "newcomerPriors" per spec name {alpha, beta, mean, members}.'
  ].join('\n'),
  args: [{ name: 'AGENT', optional: true, description: 'one agent\'s PeerId; its receipts are fetched from peers when this node holds none' }],
  options: {
    spec: { type: 'string', value: 'NAME', description: 'only agents rated on this spec name' },
    trust: { type: 'boolean', description: 'show how far this node trusts each peer\'s verdicts instead' },
    ...PAGE_OPTIONS
  },
  examples: [
    'specmesh reputation',
    'specmesh reputation --spec extract-entities --json',
    'specmesh reputation --trust',
    'specmesh reputation 12D3KooW…'
  ],
  run: async (ctx) => {
    const { home, json, options, io } = ctx
    const client = new ApiClient({ home })
    if (options.trust === true) {
      const report = await client.request('GET', '/v1/reputation/trust') as TrustReport
      if (json) {
        printJson(io, report)
        return
      }
      const rows = report.peers.map(p => [
        shortPeerId(p.peer),
        fixed(p.trust, 4),
        fixed(p.weight, 3),
        p.preTrusted ? 'yes' : '',
        String(p.asCoordinator),
        String(p.asAgent)
      ])
      printLines(io, rows.length === 0
        ? ['no peers known yet']
        : formatTable(['PEER', 'TRUST', 'WEIGHT', 'PRE-TRUSTED', 'VERDICTS SIGNED', 'RECEIPTS AS AGENT'], rows))
      return
    }
    const spec = typeof options.spec === 'string' ? options.spec : undefined
    const agent = ctx.args[0]
    const params = new URLSearchParams(spec != null ? { spec } : {})
    if (agent != null) params.set('agent', agent)
    const { body: report, next } = await client.page<ReputationReport & { fetched?: FetchedReport }>(withQuery('/v1/reputation', pageParams(ctx, params)))
    printNextPage(io, ctx, next)
    if (json) {
      printJson(io, report)
      return
    }
    if (report.agents.length === 0) {
      printLines(io, [spec != null ? `no receipts for spec ${spec} yet` : 'no receipts yet; agents are rated once jobs run on the mesh'])
      return
    }
    if (report.fetched != null) printLines(io, [fetchedLine(report.fetched, `naming ${shortPeerId(agent!)}`)])
    const rows = report.agents.map(a => {
      const o = a.evidence.outcomes
      const untrusted = a.evidence.untrusted
      return [
        shortPeerId(a.agent),
        a.spec,
        fixed(a.score, 3),
        `${fixed(a.interval[0], 2)}–${fixed(a.interval[1], 2)}`,
        fixed(a.alpha, 2),
        fixed(a.beta, 2),
        String(a.receipts),
        String(o.success),
        String(o['criteria-failed'] + o.timeout + o.error),
        String(o.refused),
        `${a.evidence.coordinators.length}${untrusted.coordinators > 0 ? ` (+${untrusted.coordinators} untrusted)` : ''}`
      ]
    })
    const priors = Object.entries(report.newcomerPriors).map(([name, p]) =>
      `a new agent on ${name} starts at ${fixed(p.mean, 3)} (Beta(${fixed(p.alpha, 2)}, ${fixed(p.beta, 2)}), from ${Number(p.members.toFixed(2))} rated agent${p.members === 1 ? '' : 's'})`)
    printLines(io, [
      ...formatTable(['AGENT', 'SPEC', 'SCORE', '95% INTERVAL', 'ALPHA', 'BETA', 'RECEIPTS', 'OK', 'FAILED', 'REFUSED', 'COORDINATORS'], rows),
      '',
      `score = α/(α+β); α, β = 1 + trust-weighted successes, failures, halved every ${halfLife(report.halfLifeMs)}`,
      ...priors
    ])
  }
}
