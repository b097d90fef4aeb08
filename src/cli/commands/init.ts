import { loadOrCreateIdentity } from '../../crypto/identity.ts'
import { homePaths } from '../../store/home.ts'
import type { Command } from '../command.ts'
import { printJson, printLines } from '../output.ts'

export const initCommand: Command = {
  name: 'init',
  summary: 'create the data folder and this node\'s identity',
  description: [
    'Create the data folder (mode 0700) and this node\'s Ed25519 identity key (mode 0600),',
    'and print the peer id. Running it again changes nothing and prints the same peer id.',
    '`specmesh daemon` does this itself on first start, so init is optional.'
  ].join('\n'),
  examples: [
    'specmesh init',
    'specmesh init --home ./node-a --json'
  ],
  run: async ({ home, json, io }) => {
    const { identity, created } = await loadOrCreateIdentity(home)
    if (json) {
      printJson(io, { peerId: identity.peerId, home, created })
    } else {
      printLines(io, [
        created ? `initialized ${home}` : `${home} is already initialized`,
        `peer id   ${identity.peerId}`,
        `identity  ${homePaths(home).identity}`
      ])
    }
  }
}
