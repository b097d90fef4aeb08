import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises'
import { homePaths } from '../store/home.ts'

/** Bytes of randomness in a freshly made API token (written as hex). */
export const API_TOKEN_BYTES = 32

/**
 * The API's bearer token, kept in `<home>/api-token` with mode 0600. Created on
 * first use; an existing token is kept (so scripts holding it keep working
 * across restarts) and its mode is tightened if someone loosened it.
 */
export async function loadOrCreateApiToken (home: string): Promise<string> {
  const { apiToken } = homePaths(home)
  await mkdir(home, { recursive: true, mode: 0o700 })
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await readToken(apiToken)
    if (existing != null) {
      if (((await stat(apiToken)).mode & 0o077) !== 0) await chmod(apiToken, 0o600)
      return existing
    }
    // Write the whole token to a private temporary file, then link it into place:
    // the link fails if another process won the race, and a reader never sees a
    // half-written token.
    const token = randomBytes(API_TOKEN_BYTES).toString('hex')
    const tmp = `${apiToken}.tmp-${process.pid}`
    await writeFile(tmp, `${token}\n`, { mode: 0o600 })
    try {
      await link(tmp, apiToken)
      return token
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    } finally {
      await unlink(tmp).catch(() => {})
    }
  }
  throw new Error(`could not create ${apiToken}`)
}

/** Read the token, or null when there is none (a missing or empty file). */
export async function readToken (path: string): Promise<string | null> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  const token = text.trim()
  return token === '' ? null : token
}

/** Constant-time comparison: both sides are hashed first so their lengths always match. */
export function tokensEqual (a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest()
  const db = createHash('sha256').update(b).digest()
  return timingSafeEqual(da, db)
}
