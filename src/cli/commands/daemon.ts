import type { Command } from '../command.ts'
import { NODE_OPTIONS, nodeRunSettings } from '../node-flags.ts'

export const daemonCommand: Command = {
  name: 'daemon',
  summary: 'run a node: join the mesh and serve the local API',
  description: [
    'Run a specmesh node in the foreground until SIGINT (Ctrl+C) or SIGTERM. It creates the',
    'identity if there is none, listens for peers, dials the bootstrap peers, and serves the',
    'local API on 127.0.0.1 (its URL goes to <home>/api.json, its bearer token is',
    '<home>/api-token). Where it listens is printed on stdout; logs go to stderr: readable',
    'lines on a terminal, one JSON object per line {ts, level, event, ...} otherwise, from',
    '--log-level up (debug, info, warn, error). One daemon per data folder. The API also',
    'serves the node\'s specs as MCP tools at <api>/mcp (see `specmesh mcp`) and the node as an',
    'A2A agent (Agent Card at <api>/.well-known/agent-card.json, JSON-RPC at <api>/a2a).',
    '',
    'Where it listens stays the same across restarts: the first start of a data folder writes',
    'port 4747 on every interface (or the next free port, when another data folder holds 4747)',
    'to <home>/config.json "listen". It finds peers on the LAN by mDNS, keeps its bootstrap',
    'peers connected, remembers every specmesh peer it met (in its LevelDB) and redials them',
    'after a restart. Each flag can also be set in config.json or a SPECMESH_* variable:',
    'flags win, then the environment, then the file (`specmesh config show` lists them all).'
  ].join('\n'),
  options: {
    ...NODE_OPTIONS,
    'no-metrics': { type: 'boolean', description: 'do not collect Prometheus metrics (GET /metrics then answers 404)' }
  },
  examples: [
    'specmesh daemon',
    'specmesh daemon --home ./node-a --listen /ip4/0.0.0.0/tcp/4800 --api-port 7070',
    'specmesh daemon --home ./node-b --bootstrap /ip4/192.0.2.7/tcp/4747/p2p/12D3KooW…',
    'specmesh daemon --home ./node-c --no-mdns',
    'specmesh daemon --log-level debug --debug libp2p:gossipsub*'
  ],
  run: async ({ home, json, options, io, path }) => {
    const settings = await nodeRunSettings(options, io.env, path)
    const { runDaemon } = await import('../../daemon.ts')
    await runDaemon({ home, ...settings, json, metrics: options['no-metrics'] !== true })
    // libp2p may leave timers behind after a clean stop; the daemon is done, so leave now.
    process.exit(0)
  }
}
