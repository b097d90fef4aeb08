import { chmod, stat } from 'node:fs/promises'
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

export interface HomeAccess {
  /** The folder's permission bits before (and, when tightened, after) this check. */
  modeBefore: number
  mode: number
  /** Set when others can still read the folder: what to tell the operator. */
  warning?: string
}

/**
 * The data folder holds the identity key, the API token and LevelDB (job inputs and
 * outputs): only its owner may enter it. A folder the user created 0755 (mkdir's
 * default) is tightened to 0700; if that is not possible (not our folder, a
 * read-only mount), the answer carries a warning the caller must show.
 */
export async function secureHome (home: string): Promise<HomeAccess> {
  const modeBefore = (await stat(home)).mode & 0o777
  if ((modeBefore & 0o077) === 0) return { modeBefore, mode: modeBefore }
  try {
    await chmod(home, 0o700)
    return { modeBefore, mode: 0o700 }
  } catch (err) {
    return {
      modeBefore,
      mode: modeBefore,
      warning: `the data folder ${home} is mode ${modeBefore.toString(8).padStart(4, '0')}: other users can read its job inputs, outputs and ledger, and it could not be changed to 0700 (${(err as Error).message}); run chmod 700 ${home}`
    }
  }
}
