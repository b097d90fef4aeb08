/**
 * Builds the package: src/ to JavaScript with type declarations in dist/
 * (tsconfig.build.json). dist/ is emptied first so a file removed from src/
 * never lingers in a published package. `npm pack` and `npm publish` run this
 * through prepack; a checkout needs no build (Node 24 runs the sources).
 *
 *   npm run build
 */
import { cpSync, rmSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true })
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url))
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' })
if (result.status !== 0) {
  process.stderr.write('build failed: tsc -p tsconfig.build.json reported the errors above\n')
  process.exit(result.status ?? 1)
}
// The dashboard is plain HTML, JavaScript and CSS that the daemon serves as they are: copied, not compiled.
for (const file of ['index.html', 'app.js', 'style.css']) {
  cpSync(new URL(`../src/dashboard/${file}`, import.meta.url), new URL(`../dist/dashboard/${file}`, import.meta.url))
}
