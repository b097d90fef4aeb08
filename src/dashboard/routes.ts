import { readFile } from 'node:fs/promises'
import type { Route } from '../api/router.ts'

/** The dashboard's files, next to this module: plain HTML, JS and CSS, no build step. */
const FILES: Record<string, { file: string, contentType: string }> = {
  '': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  'app.js': { file: 'app.js', contentType: 'text/javascript; charset=utf-8' },
  'style.css': { file: 'style.css', contentType: 'text/css; charset=utf-8' }
}

/**
 * No script but our own file, no inline script or style, no framing, no
 * requests anywhere but this API: even if a value from the mesh slipped into
 * the page as markup, it could not run.
 */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const cache = new Map<string, Buffer>()

async function load (file: string): Promise<Buffer> {
  let body = cache.get(file)
  if (body == null) {
    body = await readFile(new URL(file, import.meta.url))
    cache.set(file, body)
  }
  return body
}

/**
 * The web dashboard, at /dashboard/. Its files hold no node data, so they are
 * served without the token (`public`); the page reads the token from the URL
 * fragment that `specmesh dashboard` prints and sends it on every API call.
 */
export function dashboardRoutes (): Route[] {
  const serve = (name: string): Route['handler'] => async () => {
    const { file, contentType } = FILES[name]!
    return {
      raw: await load(file),
      contentType,
      headers: { 'content-security-policy': DASHBOARD_CSP, 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' }
    }
  }
  return [
    { method: 'GET', path: '/dashboard', handler: serve(''), public: true },
    { method: 'GET', path: '/dashboard/app.js', handler: serve('app.js'), public: true },
    { method: 'GET', path: '/dashboard/style.css', handler: serve('style.css'), public: true }
  ]
}

/** The URL that opens the dashboard with the token, as Jupyter prints one: the token rides in the fragment, which browsers never send. */
export function dashboardUrl (apiUrl: string, token: string): string {
  return `${apiUrl}/dashboard/#token=${token}`
}
