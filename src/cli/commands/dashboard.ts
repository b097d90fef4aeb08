import { spawn } from 'node:child_process'
import { readApiInfo } from '../../api/info.ts'
import { readToken } from '../../api/token.ts'
import { DaemonNotRunningError, processAlive } from '../../api/client.ts'
import { dashboardUrl } from '../../dashboard/routes.ts'
import { homePaths } from '../../store/home.ts'
import type { Command } from '../command.ts'
import { printJson, printLines } from '../output.ts'

/** The desktop's own "open this URL" program; none on a headless machine, which is fine. */
function opener (): string | null {
  if (process.platform === 'darwin') return 'open'
  if (process.platform === 'win32') return null
  return 'xdg-open'
}

export const dashboardCommand: Command = {
  name: 'dashboard',
  summary: 'print (or open) the URL of the running node\'s web dashboard',
  description: [
    'The daemon serves a web dashboard on its API address: an overview (peers, specs, jobs per',
    'second, failures), jobs filtered by status, spec and agent, each job\'s timeline (award,',
    'attempts, receipt, cost against budget), receipts with their audit, reputation with its',
    'evidence, and the ledger, updated live. This prints the URL that opens it with the API',
    'token, as Jupyter does; the token is in the URL\'s fragment (#token=…), which the browser',
    'keeps to itself. Anyone with the URL can drive the node: do not share it. --open also',
    'tries to open it in a browser.'
  ].join('\n'),
  options: {
    open: { type: 'boolean', description: 'also try to open the URL in the default browser' }
  },
  examples: ['specmesh dashboard', 'specmesh dashboard --open', 'specmesh dashboard --home ./node-a --json'],
  run: async ({ home, json, options, io }) => {
    const info = await readApiInfo(home)
    if (info == null || !processAlive(info.pid)) throw new DaemonNotRunningError(home)
    const token = await readToken(homePaths(home).apiToken)
    if (token == null) throw new Error(`${homePaths(home).apiToken} is missing; restart the daemon`)
    const url = dashboardUrl(info.url, token)
    let opened = false
    if (options.open === true) {
      const program = opener()
      if (program != null) {
        opened = await new Promise<boolean>(resolve => {
          const child = spawn(program, [url], { stdio: 'ignore', detached: true })
          child.once('error', () => resolve(false))
          child.once('spawn', () => { child.unref(); resolve(true) })
        })
      }
    }
    if (json) printJson(io, { url, opened })
    else {
      printLines(io, [url])
      if (options.open === true && !opened) io.stderr('could not open a browser here; open the URL above in one\n')
    }
  }
}
