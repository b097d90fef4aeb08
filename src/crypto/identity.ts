import { chmod, mkdir, open, readFile, rename, stat } from 'node:fs/promises'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { homePaths } from '../store/home.ts'
import { signerFromPrivateKey, type Signer } from './signatures.ts'

export interface Identity {
  privateKey: PrivateKey
  peerId: string
  signer: Signer
}

export class IdentityFileError extends Error {
  override name = 'IdentityFileError'
}

function identityOf (privateKey: PrivateKey): Identity {
  const peerId = peerIdFromPrivateKey(privateKey).toString()
  return { privateKey, peerId, signer: signerFromPrivateKey(privateKey, peerId) }
}

export async function loadIdentity (home: string): Promise<Identity | null> {
  const { identity } = homePaths(home)
  let bytes: Buffer
  try {
    bytes = await readFile(identity)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  try {
    return identityOf(privateKeyFromProtobuf(bytes))
  } catch (err) {
    throw new IdentityFileError(`${identity} is not a libp2p private key (${(err as Error).message}); restore it from a backup or move it away and run \`specmesh init\``)
  }
}

/**
 * Load the node's identity, creating it on first use. The key is written to a
 * temporary file with mode 0600, fsynced, then renamed into place, so a crash
 * never leaves a truncated key and the key is never readable by others.
 */
export async function loadOrCreateIdentity (home: string): Promise<{ identity: Identity, created: boolean }> {
  await mkdir(home, { recursive: true, mode: 0o700 })
  const existing = await loadIdentity(home)
  if (existing != null) {
    const { identity } = homePaths(home)
    if (((await stat(identity)).mode & 0o077) !== 0) await chmod(identity, 0o600)
    return { identity: existing, created: false }
  }
  const privateKey = await generateKeyPair('Ed25519')
  const { identity } = homePaths(home)
  const tmp = `${identity}.tmp-${process.pid}`
  const file = await open(tmp, 'w', 0o600)
  try {
    await file.writeFile(privateKeyToProtobuf(privateKey))
    await file.sync()
  } finally {
    await file.close()
  }
  await rename(tmp, identity)
  return { identity: identityOf(privateKey), created: true }
}
