import { describe, expect, it } from 'vitest'
import { canonicalize, NotCanonicalizableError } from '../../../src/wire/canonical.ts'

/** The canonical text's refusals name where the value JSON cannot carry sits (the vectors check the text itself). */
describe('canonicalize: what JSON cannot carry, and where', () => {
  const refusal = (value: unknown): string => {
    try {
      canonicalize(value)
    } catch (err) {
      expect(err).toBeInstanceOf(NotCanonicalizableError)
      return (err as Error).message
    }
    throw new Error('canonicalized')
  }

  it('names the path of a non-finite number, a lone surrogate, a function or an undefined array item', () => {
    expect(refusal({ a: [1, { b: Number.NaN }] })).toBe('$.a[1].b: NaN is not a finite number')
    expect(refusal({ ok: 'x', s: ['\ud800'] })).toBe('$.s[0]: string holds an unpaired UTF-16 surrogate')
    expect(refusal({ f: () => 1 })).toBe('$.f: a function cannot be represented in JSON')
    expect(refusal([1, undefined])).toBe('$[1]: a undefined cannot be represented in JSON')
    expect(refusal(10n)).toBe('$: a bigint cannot be represented in JSON')
  })

  it('refuses a member name with a lone surrogate every time, and skips members whose value is undefined', () => {
    const bad = { ['k\udc00']: 1 }
    expect(refusal(bad)).toBe('$: key holds an unpaired UTF-16 surrogate')
    expect(refusal({ inner: bad })).toBe('$.inner: key holds an unpaired UTF-16 surrogate')
    expect(canonicalize({ b: undefined, a: 1, ['k\udc00']: undefined })).toBe('{"a":1}')
    expect(canonicalize({ 'é': 1, e: 2, 'a"b': [true, null, 'x'] })).toBe('{"a\\"b":[true,null,"x"],"e":2,"é":1}')
  })

  it('refuses an own member named __proto__ (as JSON.parse makes it), naming where: receivers refuse it, so nothing holding it is signed or hashed', () => {
    expect(refusal(JSON.parse('{"a":{"__proto__":1}}'))).toBe('$.a: a member named "__proto__" is reserved (JavaScript reads it as an object\'s prototype); rename it')
    expect(refusal(JSON.parse('[{"x":1,"__proto__":{}}]'))).toBe('$[0]: a member named "__proto__" is reserved (JavaScript reads it as an object\'s prototype); rename it')
    // A prototype set the ordinary way is no member at all.
    expect(canonicalize({ __proto__: { hidden: 1 }, a: 1 })).toBe('{"a":1}')
  })

  it('gives the same text for member names past those it keeps written out, and for very long ones', () => {
    const many = Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`name${i}`, i]))
    const long = { ['n'.repeat(500)]: 1, short: 2 }
    for (let round = 0; round < 2; round++) {
      expect(canonicalize(many)).toBe(JSON.stringify(Object.fromEntries(Object.entries(many).sort(([a], [b]) => (a < b ? -1 : 1)))))
      expect(canonicalize(long)).toBe(`{"${'n'.repeat(500)}":1,"short":2}`)
    }
  })
})
