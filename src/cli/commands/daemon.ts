import { multiaddr } from '@multiformats/multiaddr'
import type { Command } from '../command.ts'
import { UsageError } from '../errors.ts'

export const daemonCommand: Command = {
  name: 'daemon',
  summary: 'run a node: join the mesh and serve the local API',
  description: [
    'Run a specmesh node in the foreground until SIGINT (Ctrl+C) or SIGTERM. It creates the',
    'identity if there is none, listens for peers, dials the bootstrap peers, and serves the',
    'local API on 127.0.0.1 (its URL goes to <home>/api.json, its bearer token is',
    '<home>/api-token). Where it listens is printed on stdout; structured logs (one JSON object',
    'per line) go to stderr. One daemon per data folder.'
  ].join('\n'),
  options: {
    listen: { type: 'string', multiple: true, value: 'MULTIADDR', description: 'address to listen on (default: /ip4/0.0.0.0/tcp/0, any free port)' },
    bootstrap: { type: 'string', multiple: true, value: 'MULTIADDR', description: 'peer to dial at start, with its /p2p/<peer id>' },
    'api-port': { type: 'string', value: 'N', description: 'port of the local API on 127.0.0.1 (default: 0, any free port)' }
  },
  examples: [
    'specmesh daemon',
    'specmesh daemon --home ./node-a --listen /ip4/0.0.0.0/tcp/4001 --api-port 7070',
    'specmesh daemon --home ./node-b --bootstrap /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW…'
  ],
  run: async ({ home, json, options, path }) => {
    const listen = multiaddrs(options.listen, '--listen', path)
    const bootstrap = multiaddrs(options.bootstrap, '--bootstrap', path)
    const apiPort = port(options['api-port'], path)
    const { runDaemon } = await import('../../daemon.ts')
    await runDaemon({ home, listen, bootstrap, apiPort, json })
    // libp2p may leave timers behind after a clean stop; the daemon is done, so leave now.
    process.exit(0)
  }
}

function multiaddrs (value: unknown, flag: string, path: string[]): string[] {
  const list = Array.isArray(value) ? value as string[] : []
  for (const addr of list) {
    try {
      multiaddr(addr)
    } catch (err) {
      throw new UsageError(`${flag} ${addr} is not a multiaddr (${(err as Error).message}); for example /ip4/127.0.0.1/tcp/4001`, path)
    }
  }
  return list
}

function port (value: unknown, path: string[]): number {
  if (value == null) return 0
  const n = Number(value)
  if (!/^\d+$/.test(String(value)) || n > 65535) throw new UsageError(`--api-port ${String(value)} is not a port number (0-65535)`, path)
  return n
}
