import { ApiClient } from '../../api/client.ts'
import type { Command } from '../command.ts'
import { formatTable, printJson, printLines } from '../output.ts'

export const idCommand: Command = {
  name: 'id',
  summary: 'show the running node\'s peer id, addresses and API',
  description: 'Ask the running daemon for its peer id, the multiaddrs it listens on and its API URL.\nGive another node one of these addresses as --bootstrap.',
  examples: ['specmesh id', 'specmesh id --home ./node-a --json'],
  run: async ({ home, json, io }) => {
    const info = await new ApiClient({ home }).id()
    if (json) {
      printJson(io, info)
      return
    }
    printLines(io, [
      `peer id  ${info.peerId}`,
      ...(info.multiaddrs.length > 0 ? info.multiaddrs.map((a, i) => `${i === 0 ? 'addrs   ' : '        '} ${a}`) : ['addrs    (none)']),
      `api      ${info.api}`
    ])
  }
}

export const peersCommand: Command = {
  name: 'peers',
  summary: 'list the peers the running node is connected to',
  description: 'List the peers the running daemon has open connections to, with the address of each connection.',
  examples: ['specmesh peers', 'specmesh peers --json'],
  run: async ({ home, json, io }) => {
    const peers = await new ApiClient({ home }).peers()
    if (json) {
      printJson(io, peers)
      return
    }
    if (peers.length === 0) {
      printLines(io, ['no peers connected'])
      return
    }
    printLines(io, formatTable(['PEER', 'ADDRESS'], peers.map(p => [p.peerId, p.addrs.join(', ')])))
  }
}
