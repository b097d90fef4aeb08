#!/usr/bin/env node
// The specmesh command. The sources are TypeScript that Node 24 runs directly
// (type stripping), so this shim only checks the Node version and hands over.
const [major] = process.versions.node.split('.').map(Number)
if (major < 24) {
  process.stderr.write(
    `error: specmesh needs Node.js 24 or newer, but this is ${process.version} (${process.execPath}).\n` +
    'Run it through npx (which uses the project\'s pinned Node 24) or node_modules/.bin/node.\n'
  )
  process.exit(1)
}

const { runCli } = await import('../src/cli/main.ts')
process.exitCode = await runCli(process.argv.slice(2))
// Pipes on Linux are written synchronously, so nothing is lost by leaving now
// if a library left a handle open; the timer does not itself hold the process.
setTimeout(() => process.exit(), 1000).unref()
