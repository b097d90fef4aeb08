import { describe, expect, it } from 'vitest'
import { randomNonce } from '../../../src/crypto/nonce.ts'

describe('randomNonce', () => {
  it('gives 16 hex digits, never the same twice, across refills of its pool', () => {
    // 2,000 nonces span four fills of the 4 KB pool (512 nonces each).
    const nonces = Array.from({ length: 2000 }, () => randomNonce())
    for (const n of nonces) expect(n).toMatch(/^[0-9a-f]{16}$/)
    expect(new Set(nonces).size).toBe(nonces.length)
  })
})
