import { readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { homePaths } from '../store/home.ts'

/** `<home>/api.json`: where a running daemon's API listens. Present only while it runs. */
export interface ApiInfo {
  url: string
  pid: number
  peerId: string
}

/** Write api.json atomically (temporary file, then rename), so a reader never sees half of it. */
export async function writeApiInfo (home: string, info: ApiInfo): Promise<void> {
  const { apiInfo } = homePaths(home)
  const tmp = `${apiInfo}.tmp-${process.pid}`
  await writeFile(tmp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 })
  await rename(tmp, apiInfo)
}

export async function readApiInfo (home: string): Promise<ApiInfo | null> {
  const { apiInfo } = homePaths(home)
  let text: string
  try {
    text = await readFile(apiInfo, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  if (value == null || typeof value !== 'object') return null
  const { url, pid, peerId } = value as Record<string, unknown>
  if (typeof url !== 'string' || typeof pid !== 'number' || typeof peerId !== 'string') return null
  return { url, pid, peerId }
}

/** Remove api.json, but only if it still describes this process: never delete another daemon's. */
export async function removeApiInfo (home: string, pid = process.pid): Promise<void> {
  const info = await readApiInfo(home)
  if (info != null && info.pid !== pid) return
  await unlink(homePaths(home).apiInfo).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err
  })
}
