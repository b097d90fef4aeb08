/**
 * Imported first by the SDK entry point, so that on a Node.js too old for
 * libp2p 3 the first thing a user sees is this message rather than a
 * TypeError from deep inside a dependency. (bin/specmesh.js checks the same
 * before it loads anything.)
 */
export const MIN_NODE_MAJOR = 22

const major = Number(process.versions.node.split('.')[0])
if (major < MIN_NODE_MAJOR) {
  throw new Error(
    `specmesh needs Node.js ${MIN_NODE_MAJOR} or newer (libp2p 3 does), but this is ${process.version} (${process.execPath}); ` +
    'install a current Node.js LTS (https://nodejs.org) or run with one, e.g. `npx -p node@24 node app.js`'
  )
}
