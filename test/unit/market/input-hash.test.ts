import { describe, expect, it } from 'vitest'
import { hashHex } from '../../../src/crypto/content-id.ts'
import { canonicalBytes } from '../../../src/wire/canonical.ts'
import { inputMatchesHash } from '../../../src/market/input-hash.ts'

const input = { text: 'hello', n: 1.5, list: [1, 2] }
const inputHash = hashHex(canonicalBytes(input))
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('inputMatchesHash: the input frame against the job\'s inputHash', () => {
  it('matches the canonical bytes as sent, and another spelling of the same value', () => {
    expect(inputMatchesHash(canonicalBytes(input), input, inputHash)).toBe(true)
    const spaced = '{ "list": [1, 2], "n": 1.50, "text": "hello" }'
    expect(inputMatchesHash(bytes(spaced), JSON.parse(spaced), inputHash)).toBe(true)
  })

  it('does not match another value, however it is spelled', () => {
    const other = { ...input, text: 'hellO' }
    expect(inputMatchesHash(canonicalBytes(other), other, inputHash)).toBe(false)
    expect(inputMatchesHash(bytes(JSON.stringify(other, null, 1)), other, inputHash)).toBe(false)
  })
})
