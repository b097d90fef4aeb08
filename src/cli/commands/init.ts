import { loadOrCreateIdentity } from '../../crypto/identity.ts'
import { homePaths } from '../../store/home.ts'
import type { Command } from '../command.ts'
import { printJson, printLines } from '../output.ts'

export const initCommand: Command = {
  name: 'init',
  summary: 'create the data folder and this node\'s identity',
  description: [
    'Create the data folder (mode 0700), this node\'s Ed25519 identity key (mode 0600) and',
    'its config.json, and print the peer id. config.json gets where the node listens:',
    'port 4747 on every interface, or the next free port when another data folder\'s daemon',
    'holds 4747 (init says so). Running init again changes nothing and prints the same peer id.',
    '`specmesh daemon` does all this itself on first start, so init is optional.'
  ].join('\n'),
  examples: [
    'specmesh init',
    'specmesh init --home ./node-a --json'
  ],
  run: async ({ home, json, io }) => {
    const { identity, created } = await loadOrCreateIdentity(home)
    const { resolveSettings } = await import('../../config/settings.ts')
    const { ensureListen, describeChosenListen } = await import('../../config/listen.ts')
    const settings = await resolveSettings({ home, env: io.env })
    const chosen = await ensureListen(settings)
    if (json) {
      printJson(io, { peerId: identity.peerId, home, created, listen: settings.values.listen, ...(chosen != null ? { portMoved: chosen.moved } : {}) })
    } else {
      printLines(io, [
        created ? `initialized ${home}` : `${home} is already initialized`,
        `peer id   ${identity.peerId}`,
        `identity  ${homePaths(home).identity}`,
        `listen    ${settings.values.listen.join(' ')}${settings.sources.listen !== 'file' ? ` (from ${settings.sources.listen === 'env' ? 'SPECMESH_LISTEN' : settings.sources.listen})` : ''}`,
        ...(chosen != null ? [describeChosenListen(chosen)] : [])
      ])
    }
  }
}
