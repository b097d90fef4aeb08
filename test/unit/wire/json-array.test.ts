import { describe, expect, it } from 'vitest'
import { JsonArrayError, splitJsonArray } from '../../../src/wire/json-array.ts'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const texts = (parts: Uint8Array[]): string[] => parts.map(p => new TextDecoder().decode(p))

describe('splitJsonArray', () => {
  it('cuts an array into the exact bytes of its elements, whitespace around them dropped', () => {
    expect(texts(splitJsonArray(bytes('[{"a":1}, {"b":[1,2,{"c":"]"}]} ,\n"x,y" ]'), 8))).toEqual(['{"a":1}', '{"b":[1,2,{"c":"]"}]}', '"x,y"'])
    expect(texts(splitJsonArray(bytes(' [ ] '), 8))).toEqual([])
  })

  it('skips brackets and commas inside strings, escaped quotes included, and multi-byte UTF-8', () => {
    expect(texts(splitJsonArray(bytes('[{"a":"\\"],["},{"é€😀":"\\\\"}]'), 8))).toEqual(['{"a":"\\"],["}', '{"é€😀":"\\\\"}'])
  })

  it('returns views of the input, not copies', () => {
    const input = bytes('[{"a":1},{"b":2}]')
    const [first] = splitJsonArray(input, 8)
    expect(first!.buffer).toBe(input.buffer)
    expect(first!.byteOffset).toBe(1)
  })

  it('refuses what is not one array it can split', () => {
    for (const text of ['{"a":1}', '[{"a":1}', '[{"a":1},]', '[,{"a":1}]', '[{"a":1}]x', '[{"a":"1]', '[{"a":1}}]', '']) {
      expect(() => splitJsonArray(bytes(text), 8), text).toThrow(JsonArrayError)
    }
  })

  it('refuses more elements than allowed before scanning the rest', () => {
    expect(() => splitJsonArray(bytes('[1,2,3]'), 2)).toThrow(/more than 2 elements/)
    expect(splitJsonArray(bytes('[1,2]'), 2)).toHaveLength(2)
  })
})
