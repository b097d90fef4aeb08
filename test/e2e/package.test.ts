/**
 * The package as a user gets it: `npm pack` the checkout (prepack builds
 * dist/), install the tarball into a fresh project in a temporary folder
 * (dependencies from the npm cache), then use it there: the SDK by name from
 * ESM and CommonJS, its type declarations, the `specmesh` binary, and a real
 * two-node job. Node data folders planted inside the checkout first must end
 * up neither in the tarball nor in git.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile, spawn, spawnSync } from 'node:child_process'
import { accessSync, constants as fsConstants } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'
import { createNode } from '../../src/node.ts'
import { loadOrCreateApiToken } from '../../src/api/token.ts'
import { ROOT } from '../helpers/cli.ts'
import { waitFor } from '../helpers/wait.ts'

const run = promisify(execFile)
const NODE24 = process.execPath
/** npm and the binaries it links run on the Node that runs this test (the pinned 24), as `npx` gives a user. */
const PATH = [join(ROOT, 'node_modules/.bin'), process.env.PATH ?? ''].join(delimiter)
const env: NodeJS.ProcessEnv = { ...process.env, PATH, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }
delete env.SPECMESH_HOME

/** What a node's data folder holds that must never be shipped: the key, the API token and LevelDB's files. */
const SECRET_OR_DATA = /(^|\/)(identity\.key|api-token|api\.json|daemon\.lock|CURRENT|LOCK|LOG(\.old)?|MANIFEST-\d+|\d+\.(log|ldb))$/

let work: string
let app: string
let tarball: string
let tarFiles: string[]
const planted: string[] = []

async function sh (file: string, args: string[], cwd: string, timeout = 120_000): Promise<{ stdout: string, stderr: string }> {
  try {
    return await run(file, args, { cwd, env, timeout, maxBuffer: 32 * 1024 * 1024 })
  } catch (err) {
    const e = err as Error & { stdout?: string, stderr?: string }
    throw new Error(`${file} ${args.join(' ')} failed in ${cwd}: ${e.message}\nstdout: ${e.stdout}\nstderr: ${e.stderr}`)
  }
}

/** A real node home (identity, LevelDB, API token, config) where a user might leave one inside the checkout. */
async function plantHome (dir: string): Promise<void> {
  planted.push(dir)
  const node = await createNode({ home: dir, listen: ['/ip4/127.0.0.1/tcp/0'] })
  await node.stop()
  await loadOrCreateApiToken(dir)
  await writeFile(join(dir, 'api.json'), JSON.stringify({ url: 'http://127.0.0.1:1', pid: 1, peerId: node.peerId }))
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'specmesh-package-'))
  const tag = Math.random().toString(36).slice(2, 8)
  await plantHome(join(ROOT, `node-pack-test-${tag}`)) // as the README's `--home ./node-b`
  await plantHome(join(ROOT, 'examples', `home-pack-test-${tag}`)) // inside a folder the package ships

  const packed = await sh('npm', ['pack', '--json', '--pack-destination', work], ROOT)
  const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string, files: Array<{ path: string }> }>
  tarball = join(work, info[0]!.filename)
  tarFiles = (await sh('tar', ['-tzf', tarball], work)).stdout.split('\n').filter(Boolean).map(p => p.replace(/^package\//, ''))

  app = join(work, 'app')
  await mkdir(app)
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', private: true, type: 'module' }))
  await sh('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], app)
}, 180_000)

afterAll(async () => {
  await Promise.all(planted.map(async dir => await rm(dir, { recursive: true, force: true })))
  if (work != null) await rm(work, { recursive: true, force: true })
})

describe('the packed package', () => {
  it('holds the build, the binary and the examples, and no key, token or database file', async () => {
    expect(tarFiles).toContain('dist/index.js')
    expect(tarFiles).toContain('dist/index.d.ts')
    expect(tarFiles).toContain('dist/cli/main.js')
    expect(tarFiles).toContain('dist/reputation/verify-worker.js')
    // The dashboard's page, served by the daemon as is.
    for (const file of ['index.html', 'app.js', 'style.css']) expect(tarFiles).toContain(`dist/dashboard/${file}`)
    expect(tarFiles).toContain('bin/specmesh.js')
    expect(tarFiles).toContain('examples/entity-extraction.yaml')
    // A shipped workflow ships the specs it names.
    expect(tarFiles).toContain('examples/workflows/diamond.yaml')
    expect(tarFiles).toContain('examples/specs/write-brief.yaml')
    expect(tarFiles.filter(p => p.startsWith('src/') || p.startsWith('test/'))).toEqual([])
    expect(tarFiles.filter(p => SECRET_OR_DATA.test(p) || p.includes('pack-test-'))).toEqual([])
    // The planted homes are real: the test would see them if the allowlist let them through.
    const { stdout } = await sh('find', [...planted, '-type', 'f'], ROOT)
    expect(stdout.split('\n').filter(p => SECRET_OR_DATA.test(p)).length).toBeGreaterThan(5)
  })

  it('git ignores node data folders created inside the checkout', async () => {
    const { stdout } = await sh('git', ['status', '--porcelain', '--untracked-files=all', '--', ...planted], ROOT)
    expect(stdout).toBe('')
  })

  it('runs a two-node job through the SDK imported by name in a fresh ESM project', async () => {
    await writeFile(join(app, 'job.js'), `
      import { createNode, loadSpecFile } from 'specmesh'
      const requester = await createNode({ home: './requester', listen: ['/ip4/127.0.0.1/tcp/0'] })
      const agent = await createNode({ home: './agent', listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [requester.multiaddrs()[0]] })
      const { id } = await agent.publishSpec(await loadSpecFile('node_modules/specmesh/examples/entity-extraction.yaml'))
      await agent.serve(id, async input => ({ entities: [{ type: 'person', value: input.text.split(' ')[0], confidence: 90 }] }), { priceUsd: 0.04 })
      const until = Date.now() + 20000
      while (requester.capacityOf(id).length === 0 && Date.now() < until) await new Promise(r => setTimeout(r, 50))
      const result = await requester.submitJob(id, { text: 'Ada Lovelace' })
      console.log(JSON.stringify({ status: result.status, output: result.output, receipt: result.receipt?.id ?? null, costUsd: result.costUsd, reason: result.reason ?? null }))
      await agent.stop()
      await requester.stop()
    `)
    const { stdout } = await sh(NODE24, ['job.js'], app, 60_000)
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!)
    expect(result).toMatchObject({ status: 'succeeded', output: { entities: [{ type: 'person', value: 'Ada', confidence: 90 }] }, costUsd: 0.04 })
    expect(result.receipt).toMatch(/^b/)
  })

  it('loads from CommonJS with require()', async () => {
    await writeFile(join(app, 'load.cjs'), "const sdk = require('specmesh'); console.log(typeof sdk.createNode, typeof sdk.validateSpec)")
    expect((await sh(NODE24, ['load.cjs'], app)).stdout.trim()).toBe('function function')
  })

  it('ships type declarations a TypeScript project resolves by package name', async () => {
    await writeFile(join(app, 'typed.ts'), [
      "import { createNode, type JobResult } from 'specmesh'",
      "const node = await createNode({ home: './typed' })",
      "const result: JobResult = await node.submitJob('id', {})",
      'const cost: number = result.costUsd',
      'const wrong: string = node.peerId.length',
      'console.log(cost, wrong)'
    ].join('\n'))
    await writeFile(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { module: 'nodenext', target: 'es2024', strict: true, noEmit: true, skipLibCheck: true, typeRoots: [join(ROOT, 'node_modules/@types')], types: ['node'] },
      files: ['typed.ts']
    }))
    const tsc = join(ROOT, 'node_modules/.bin/tsc')
    const failed = await run(tsc, ['-p', '.'], { cwd: app, env }).then(() => null, (err: { stdout: string }) => err.stdout)
    // Exactly the one deliberate mistake: the declarations are real types, not `any`.
    expect(failed?.trim().split('\n')).toEqual([expect.stringMatching(/^typed\.ts\(5,7\): error TS2322: Type 'number' is not assignable to type 'string'/)])
  })

  it('installs a `specmesh` binary that runs the build: --version, spec validate, and a daemon answering on its API', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    expect((await sh('npx', ['--no', '--', 'specmesh', '--version'], app)).stdout.trim()).toBe(`specmesh ${pkg.version}`)
    const validated = await sh('npx', ['--no', '--', 'specmesh', 'spec', 'validate', 'node_modules/specmesh/examples/entity-extraction.yaml', '--json'], app)
    expect(JSON.parse(validated.stdout)).toMatchObject({ ok: true })

    const home = join(app, 'daemon-home')
    const daemon = spawn(join(app, 'node_modules/.bin/specmesh'), ['daemon', '--home', home, '--listen', '/ip4/127.0.0.1/tcp/0', '--json'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    daemon.stdout.setEncoding('utf8').on('data', (c: string) => { out += c })
    try {
      const ready = await waitFor(() => out.includes('\n') ? JSON.parse(out.split('\n')[0]!) as { peerId: string } : null, { timeoutMs: 20_000, what: 'the installed daemon to start' })
      const id = await sh('npx', ['--no', '--', 'specmesh', 'id', '--home', home, '--json'], app)
      expect(JSON.parse(id.stdout).peerId).toBe(ready.peerId)
    } finally {
      daemon.kill('SIGTERM')
      await new Promise(resolve => daemon.once('exit', resolve))
    }
  })

  const oldNode = findOldNode()
  it.skipIf(oldNode == null)(`on a Node.js older than 22 (${oldNode ?? 'none on PATH; skipped'}), the first thing the binary and the SDK say is what Node they need`, async () => {
    const bin = await run(oldNode!, [join(app, 'node_modules/specmesh/bin/specmesh.js'), '--help'], { cwd: app }).then(() => null, (err: { code: number, stderr: string }) => err)
    expect(bin?.code).toBe(1)
    expect(bin?.stderr).toMatch(/^error: specmesh needs Node\.js 22 or newer \(libp2p 3 does\), but this is v(1\d|2[01])\./)
    const sdk = await run(oldNode!, ['job.js'], { cwd: app }).then(() => null, (err: { stderr: string }) => err)
    expect(sdk?.stderr).toMatch(/Error: specmesh needs Node\.js 22 or newer/)
    expect(sdk?.stderr).not.toMatch(/TypeError|SyntaxError/)
  })
})

/** A `node` on PATH (outside this checkout) older than 22: the system Node of these machines is 20. */
function findOldNode (): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '' || dir.startsWith(ROOT)) continue
    const candidate = join(dir, 'node')
    try {
      accessSync(candidate, fsConstants.X_OK)
    } catch {
      continue
    }
    const { status, stdout } = spawnSync(candidate, ['--version'], { encoding: 'utf8' })
    if (status === 0 && Number(stdout.trim().replace(/^v/, '').split('.')[0]) < 22) return candidate
  }
  return null
}
