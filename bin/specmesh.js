#!/usr/bin/env node
// The specmesh command. Plain JavaScript that every Node.js parses, so that on
// one too old for libp2p 3 the first thing printed is what to do about it.
// In a checkout it runs the TypeScript sources (Node strips the types); in an
// installed package, which holds no sources, the build in dist/.
import { existsSync } from 'node:fs'

const MIN_NODE_MAJOR = 22
const major = Number(process.versions.node.split('.')[0])
if (major < MIN_NODE_MAJOR) {
  process.stderr.write(
    `error: specmesh needs Node.js ${MIN_NODE_MAJOR} or newer (libp2p 3 does), but this is ${process.version} (${process.execPath}).\n` +
    `Install a current Node.js LTS (https://nodejs.org), or let npx fetch one for this command: npx -p node@24 specmesh ${process.argv.slice(2).join(' ')}\n` +
    '(In a checkout of specmesh, npx and npm run use the Node 24 the project pins.)\n'
  )
  process.exit(1)
}

const sources = new URL('../src/cli/main.ts', import.meta.url)
let entry = new URL('../dist/cli/main.js', import.meta.url)
if (existsSync(sources)) {
  if (process.features.typescript == null) {
    process.stderr.write(
      `error: this checkout of specmesh runs its TypeScript sources, which needs a Node.js that strips types (24, or 22.18 and newer), but this is ${process.version}.\n` +
      'Run it through npx or npm run (they use the Node 24 the project pins)\n'
    )
    process.exit(1)
  }
  entry = sources
} else if (!existsSync(entry)) {
  process.stderr.write(`error: ${entry.pathname} is missing: this copy of specmesh was never built; run npm run build in it\n`)
  process.exit(1)
}

const { runCli } = await import(entry.href)
process.exitCode = await runCli(process.argv.slice(2))
// Pipes on Linux are written synchronously, so nothing is lost by leaving now
// if a library left a handle open; the timer does not itself hold the process.
setTimeout(() => process.exit(), 1000).unref()
