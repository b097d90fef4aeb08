import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/** Data folder: --home wins, then SPECMESH_HOME, then ~/.specmesh. */
export function resolveHome (home?: string): string {
  if (home != null && home !== '') return resolve(home)
  const fromEnv = process.env.SPECMESH_HOME
  if (fromEnv != null && fromEnv !== '') return resolve(fromEnv)
  return join(homedir(), '.specmesh')
}

/** Where each file lives inside a data folder. */
export function homePaths (home: string) {
  return {
    home,
    identity: join(home, 'identity.key'),
    apiToken: join(home, 'api-token'),
    apiInfo: join(home, 'api.json'),
    db: join(home, 'db'),
    config: join(home, 'config.json')
  }
}
