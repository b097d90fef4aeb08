import { describe, expect, it } from 'vitest'
import { Worker } from 'node:worker_threads'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { ed25519 as curve, ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js'
import { sha512 } from '@noble/hashes/sha2.js'
import nacl from 'tweetnacl'
import { chooseBackend, ed25519, isUnrequestedFallback, type Ed25519Backend } from '../../../src/crypto/ed25519.ts'

/**
 * Both Ed25519 backends (libsodium through sodium-native, OpenSSL through
 * node:crypto) must accept exactly the same signatures: a node refusing what
 * its peers accept would refuse, and penalise, peers relaying honest gossip.
 * The edge cases below are those where Ed25519 implementations are known to
 * differ (RFC 8032 §5.1.7 against libsodium's extra checks; see
 * protocols/envelope.md "The signature rule").
 */
const sodium = chooseBackend({})
const openssl = chooseBackend({ SPECMESH_ED25519: 'node' })
const backends: Ed25519Backend[] = [sodium, openssl]

async function libp2pKey (byte: number): Promise<{ raw: Uint8Array, publicKey: Uint8Array }> {
  const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(byte))
  return { raw: key.raw, publicKey: key.publicKey.raw }
}

const message = new TextEncoder().encode('{"jobId":"j1","outcome":"success"}')

function verifies (backend: Ed25519Backend, publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean {
  const verify = backend.verifierOf(publicKey)
  return verify != null && verify(bytes, signature)
}

describe('Ed25519 backends', () => {
  it('runs libsodium here, where sodium-native ships a prebuilt addon', () => {
    expect(sodium.name).toBe('sodium-native')
    expect(ed25519().name).toBe(process.env.SPECMESH_ED25519 === 'node' ? 'node:crypto' : 'sodium-native')
  })

  it('sign the same bytes from a libp2p key (seed ‖ public key), and each verifies the other\'s signature', async () => {
    const key = await libp2pKey(3)
    const bySodium = sodium.signerOf(key.raw)(message)
    const byOpenssl = openssl.signerOf(key.raw)(message)
    // Ed25519 is deterministic: the same key and message give the same 64 bytes.
    expect(Buffer.from(bySodium).toString('hex')).toBe(Buffer.from(byOpenssl).toString('hex'))
    expect(bySodium).toHaveLength(64)
    for (const backend of backends) expect(verifies(backend, key.publicKey, message, bySodium)).toBe(true)
  })

  it.each(backends.map(b => [b.name, b] as const))('%s refuses a mutated signature, a mutated message and another key', async (_name, backend) => {
    const key = await libp2pKey(4)
    const other = await libp2pKey(5)
    const sig = backend.signerOf(key.raw)(message)
    expect(verifies(backend, key.publicKey, message, sig)).toBe(true)
    for (const at of [0, 31, 32, 63]) {
      const bad = Uint8Array.from(sig)
      bad[at]! ^= 0x01
      expect(verifies(backend, key.publicKey, message, bad), `signature byte ${at} flipped`).toBe(false)
    }
    const mutated = Uint8Array.from(message)
    mutated[3]! ^= 0x20
    expect(verifies(backend, key.publicKey, mutated, sig)).toBe(false)
    expect(verifies(backend, other.publicKey, message, sig)).toBe(false)
    expect(verifies(backend, key.publicKey, message, sig.subarray(0, 63))).toBe(false)
  })

  describe('accept and refuse the same edge cases', () => {
    const Point = curve.Point
    const L = Point.Fn.ORDER
    const le = (bytes: Uint8Array): bigint => bytes.reduceRight((n, b) => (n << 8n) | BigInt(b), 0n)
    const scalar = (n: bigint): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn))
    const challenge = (R: Uint8Array, A: Uint8Array): bigint => le(sha512(Uint8Array.from([...R, ...A, ...message]))) % L
    const a = 0x1234567890abcdefn
    const r = 0xfedcba987654321n
    const honestA = Point.BASE.multiply(a).toBytes()
    const Rb = Point.BASE.multiply(r).toBytes()

    // What each signature is, and whether the rule accepts it (protocols/envelope.md).
    const cases: Array<{ name: string, publicKey: Uint8Array, sig: Uint8Array, accept: boolean }> = [
      { name: 'an honest signature (R = rB, S = r + ka)', publicKey: honestA, sig: Uint8Array.from([...Rb, ...scalar((r + challenge(Rb, honestA) * a) % L)]), accept: true },
      { name: 'S not reduced (S + L)', publicKey: honestA, sig: Uint8Array.from([...Rb, ...scalar((r + challenge(Rb, honestA) * a) % L + L)]), accept: false },
      // R = identity satisfies SB = R + kA when S = ka: refused for R of small order.
      { name: 'R the identity point', publicKey: honestA, sig: Uint8Array.from([...Point.ZERO.toBytes(), ...scalar(challenge(Point.ZERO.toBytes(), honestA) * a % L)]), accept: false },
      // A key of small order signs every message for anyone (kA = 0): refused.
      ...ED25519_TORSION_SUBGROUP.map((hex, i) => {
        const A = Uint8Array.from(Buffer.from(hex, 'hex'))
        const T = Point.fromBytes(A)
        // S = r works when kT = 0; try nonces until the challenge is a multiple of T's order.
        for (let n = 1n; ; n++) {
          const R = Point.BASE.multiply(n).toBytes()
          if (T.multiply(challenge(R, A) || L).equals(Point.ZERO)) return { name: `public key of small order (torsion point ${i})`, publicKey: A, sig: Uint8Array.from([...R, ...scalar(n)]), accept: false }
        }
      }),
      // Other spellings of small-order points: y = p, y = p + 1, and the sign bit set where x = 0.
      ...[['y = p', 'ed' + 'ff'.repeat(30) + '7f'], ['y = p, sign bit set', 'ed' + 'ff'.repeat(31)], ['y = p + 1 (the identity)', 'ee' + 'ff'.repeat(30) + '7f'],
        ['y = p + 1, sign bit set', 'ee' + 'ff'.repeat(31)], ['the identity, sign bit set', '01' + '00'.repeat(30) + '80'], ['y = -1, sign bit set', 'ec' + 'ff'.repeat(31)]].map(([spelling, hex]) => {
        const A = Uint8Array.from(Buffer.from(hex!, 'hex'))
        const T = Point.fromBytes(A, true)
        for (let n = 1n; ; n++) {
          const R = Point.BASE.multiply(n).toBytes()
          if (T.multiply(challenge(R, A) || L).equals(Point.ZERO)) return { name: `public key of small order spelt non-canonically (${spelling!})`, publicKey: A, sig: Uint8Array.from([...R, ...scalar(n)]), accept: false }
        }
      }),
      // A key with a torsion component (aB + T) signs validly when kT happens to be 0: both accept it.
      ((): { name: string, publicKey: Uint8Array, sig: Uint8Array, accept: boolean } => {
        const A = Point.BASE.multiply(a).add(Point.fromBytes(Uint8Array.from(Buffer.from(ED25519_TORSION_SUBGROUP[1]!, 'hex')))).toBytes()
        for (let n = 1n; ; n++) {
          const R = Point.BASE.multiply(n).toBytes()
          const k = challenge(R, A)
          if (k % 8n === 0n) return { name: 'public key of mixed order, challenge a multiple of 8', publicKey: A, sig: Uint8Array.from([...R, ...scalar((n + k * a) % L)]), accept: true }
        }
      })()
    ]

    it.each(cases.map(c => [c.name, c] as const))('%s', (_name, c) => {
      expect(backends.map(b => verifies(b, c.publicKey, message, c.sig))).toEqual([c.accept, c.accept])
      // Each case is a real solution of the verification equation: tweetnacl, which makes none of these checks, accepts it.
      expect(nacl.sign.detached.verify(message, c.sig, c.publicKey)).toBe(true)
    })
  })

  describe('choosing', () => {
    const missing = (): never => { throw new Error('Cannot find module \'sodium-native\'\nRequire stack: …') }

    it('falls back to node:crypto when the addon does not load, and says why', () => {
      const backend = chooseBackend({}, missing)
      expect(backend.name).toBe('node:crypto')
      expect(backend.reason).toBe('sodium-native does not load here (Cannot find module \'sodium-native\')')
      expect(isUnrequestedFallback(backend)).toBe(true)
    })

    it('takes node:crypto when SPECMESH_ED25519=node, without a warning', () => {
      const backend = chooseBackend({ SPECMESH_ED25519: 'node' })
      expect(backend).toMatchObject({ name: 'node:crypto', reason: 'SPECMESH_ED25519=node' })
      expect(isUnrequestedFallback(backend)).toBe(false)
    })

    it('refuses to fall back when SPECMESH_ED25519=sodium, and refuses an unknown value', () => {
      expect(() => chooseBackend({ SPECMESH_ED25519: 'sodium' }, missing)).toThrow(/SPECMESH_ED25519=sodium, but sodium-native does not load here: Cannot find module/)
      expect(chooseBackend({ SPECMESH_ED25519: 'sodium' }).name).toBe('sodium-native')
      expect(() => chooseBackend({ SPECMESH_ED25519: 'openssl' })).toThrow('SPECMESH_ED25519 is "openssl"; use "sodium" (libsodium, the default) or "node" (node:crypto)')
    })
  })

  it('loads libsodium in worker threads too (the reputation verify pool runs there)', async () => {
    const moduleUrl = new URL('../../../src/crypto/ed25519.ts', import.meta.url).href
    const worker = new Worker(`import(${JSON.stringify(moduleUrl)}).then(m => require('node:worker_threads').parentPort.postMessage(m.ed25519().name))`, { eval: true, env: { ...process.env, SPECMESH_ED25519: '' } })
    const name = await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject) })
    await worker.terminate()
    expect(name).toBe('sodium-native')
  })
})
