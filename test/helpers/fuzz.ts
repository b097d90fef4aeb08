/**
 * A seeded generator of hostile JSON for fuzzing: the same seed gives the same
 * cases, so a failure can be replayed. It makes what broke the API before:
 * lone surrogates in values and keys, invalid UTF-8, deep nesting, numbers past
 * a double's range, odd keys (`__proto__`, empty, very long), wrong types.
 */

/** mulberry32: small, fast, good enough to spread cases. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export class Fuzzer {
  readonly random: () => number

  constructor (seed: number) {
    this.random = seededRandom(seed)
  }

  int (max: number): number {
    return Math.floor(this.random() * max)
  }

  pick<T> (items: readonly T[]): T {
    return items[this.int(items.length)]!
  }

  chance (p: number): boolean {
    return this.random() < p
  }

  string (): string {
    return this.pick([
      () => '',
      () => 'Ada Lovelace',
      () => '\ud800',
      () => `text \udfff tail`,
      () => 'a\ud83d',
      () => '😀 paired is fine',
      () => '\u0000\u0001\u001f',
      () => 'x'.repeat(this.int(5000)),
      () => '"}{][\\',
      () => '<script>alert(1)</script>',
      () => '4m',
      () => '2026-03-01T18:00:00Z',
      () => 'name@1.0.0',
      () => String.fromCharCode(...Array.from({ length: 8 }, () => this.int(0x10000)))
    ])()
  }

  number (): number | string {
    return this.pick<() => number | string>([
      () => 0,
      () => -1,
      () => 1,
      () => 0.1,
      () => 1e308,
      () => -1e308,
      () => Number.MAX_SAFE_INTEGER + 2,
      () => 5e-324,
      () => this.int(100_000),
      () => this.random() * 10
    ])()
  }

  key (): string {
    return this.pick([
      () => 'text',
      () => '',
      () => '__proto__',
      () => 'constructor',
      () => 'prototype',
      () => 'k\ud800',
      () => '\udc00',
      () => 'a.b.c',
      () => 'k'.repeat(300),
      () => '$ref',
      () => 'toString',
      () => this.string()
    ])()
  }

  /** A JSON value of bounded size; `depth` caps ordinary nesting (deep nesting comes as text). */
  value (depth = 3): unknown {
    const kinds = depth <= 0 ? 5 : 7
    switch (this.int(kinds)) {
      case 0: return null
      case 1: return this.chance(0.5)
      case 2: return this.number()
      case 3:
      case 4: return this.string()
      case 5: return Array.from({ length: this.int(4) }, () => this.value(depth - 1))
      default: {
        const out: Record<string, unknown> = {}
        for (let i = this.int(4); i > 0; i--) Object.defineProperty(out, this.key(), { value: this.value(depth - 1), enumerable: true, configurable: true, writable: true })
        return out
      }
    }
  }

  /**
   * A request body as bytes: usually the JSON of `value` (JSON.stringify writes a
   * lone surrogate as its escape, as a client in any language might), sometimes
   * spliced with raw text that no JSON.stringify would produce.
   */
  body (value: unknown): Uint8Array {
    const text = JSON.stringify(value) ?? 'null'
    switch (this.int(12)) {
      case 0: return this.withInvalidUtf8(text)
      case 1: return Buffer.from(this.spliceValue(text, `${'['.repeat(3000 + this.int(3000))}${']'.repeat(3000)}`))
      case 2: return Buffer.from(this.spliceValue(text, this.pick(['1e400', '-1e400', '123456789012345678901234567890e300', '1' + '0'.repeat(400)])))
      case 3: return Buffer.from(`\ufeff${text}`)
      case 4: return Buffer.from(this.spliceValue(text, '"\\ud800"'))
      default: return Buffer.from(text)
    }
  }

  /** Put raw JSON text where the first value after a colon is, or wrap it. */
  private spliceValue (text: string, raw: string): string {
    const at = text.indexOf(':')
    if (at < 0 || this.chance(0.2)) return `{"input":${raw}}`
    const end = text.slice(at + 1).search(/[,}]/)
    return end < 0 ? `{"input":${raw}}` : `${text.slice(0, at + 1)}${raw}${text.slice(at + 1 + end)}`
  }

  private withInvalidUtf8 (text: string): Uint8Array {
    const bytes = Buffer.from(text)
    const bad = this.pick([[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80]])
    const quote = text.indexOf('"', 1)
    const at = quote > 0 ? quote : bytes.length
    return Buffer.concat([bytes.subarray(0, at), Buffer.from(bad), bytes.subarray(at)])
  }
}
