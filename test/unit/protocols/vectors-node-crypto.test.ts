import { expect, it, vi } from 'vitest'
import { ed25519 } from '../../../src/crypto/ed25519.ts'

// Every protocol vector again, verified by the node:crypto fallback instead of
// libsodium: both backends must accept and refuse exactly the same messages.
vi.hoisted(() => { process.env.SPECMESH_ED25519 = 'node' })

it('runs on the node:crypto backend', () => {
  expect(ed25519().name).toBe('node:crypto')
})

await import('./vectors.test.ts')
