import { describe, expect, it } from 'vitest'
import { findReferences, parseReference, resolveInput } from '../../../src/workflow/references.ts'

describe('parseReference', () => {
  it('reads a job, the output and a path of keys, indexes and quoted keys', () => {
    expect(parseReference('${audio.output}')).toEqual({ ok: true, ref: { job: 'audio', path: [], source: '${audio.output}' } })
    expect(parseReference('${audio.output.text}')).toMatchObject({ ok: true, ref: { job: 'audio', path: ['text'] } })
    expect(parseReference('${nlp-2.output.topics[0].name}')).toMatchObject({ ok: true, ref: { job: 'nlp-2', path: ['topics', 0, 'name'] } })
    expect(parseReference('${a.output["odd key"][12]}')).toMatchObject({ ok: true, ref: { job: 'a', path: ['odd key', 12] } })
    expect(parseReference('${ a.output.x }')).toMatchObject({ ok: true, ref: { job: 'a', path: ['x'] } })
  })

  it('refuses what is not a reference, saying how to write one', () => {
    const bad = (s: string): string => {
      const r = parseReference(s)
      expect(r.ok).toBe(false)
      return (r as { message: string }).message
    }
    expect(bad('${audio}')).toMatch(/names job audio but not what to read from it; write \$\{JOB\.output\}/)
    expect(bad('${audio.text}')).toMatch(/only a job's output can be referenced \(did you mean \$\{audio\.output\.text\}\?\)/)
    expect(bad('${audio.output.}')).toMatch(/cannot be read from "\."/)
    expect(bad('${audio.output[x]}')).toMatch(/cannot be read from/)
    expect(bad('${1abc.output}')).toMatch(/does not start with a job id/)
    expect(bad('audio.output')).toMatch(/is not a reference/)
  })
})

describe('findReferences', () => {
  it('finds references at any depth, with where they are written', () => {
    const { refs, problems } = findReferences({ a: '${x.output.t}', list: [1, { b: '${y.output}' }], plain: 'text', n: 3 }, 'jobs[1].input')
    expect(problems).toEqual([])
    expect(refs.map(r => [r.ref.job, r.at])).toEqual([['x', 'jobs[1].input.a'], ['y', 'jobs[1].input.list[1].b']])
  })

  it('refuses a reference mixed with other text, and one used as a key', () => {
    const { refs, problems } = findReferences({ t: 'Summary of ${x.output.title}', '${x.output}': 1, two: '${a.output}${b.output}' }, 'input')
    expect(refs).toEqual([])
    expect(problems.map(p => p.path)).toEqual(['input.t', 'input["${x.output}"]', 'input.two'])
    expect(problems[0]!.message).toMatch(/mixes a reference with other text; a reference must be the whole value/)
    expect(problems[1]!.message).toMatch(/cannot be a key/)
  })

  it('treats $${ as a literal ${', () => {
    expect(findReferences({ t: '$${not.a.ref}', u: 'cost $$5' }, 'input')).toEqual({ refs: [], problems: [] })
  })
})

describe('resolveInput', () => {
  const outputs = new Map<string, unknown>([
    ['audio', { text: 'hello', seconds: 754, words: ['hello'], meta: { 'odd key': true }, nothing: null }],
    ['nlp', { topics: [{ name: 'specs', weight: 1 }, { name: 'agents', weight: 0.5 }] }]
  ])

  it('replaces each reference by the value it names, keeping its type', () => {
    const input = {
      transcript: '${audio.output.text}',
      seconds: '${audio.output.seconds}',
      topics: '${nlp.output.topics}',
      first: '${nlp.output.topics[0].name}',
      flag: '${audio.output.meta["odd key"]}',
      whole: '${audio.output.meta}',
      nothing: '${audio.output.nothing}',
      nested: [{ t: '${audio.output.words[0]}' }],
      literal: '$${kept}',
      n: 1
    }
    const resolved = resolveInput(input, outputs)
    expect(resolved).toEqual({
      ok: true,
      value: {
        transcript: 'hello',
        seconds: 754,
        topics: [{ name: 'specs', weight: 1 }, { name: 'agents', weight: 0.5 }],
        first: 'specs',
        flag: true,
        whole: { 'odd key': true },
        nothing: null,
        nested: [{ t: 'hello' }],
        literal: '${kept}',
        n: 1
      }
    })
  })

  it('copies values, so one job cannot change another job\'s output', () => {
    const resolved = resolveInput({ t: '${nlp.output.topics}' }, outputs) as { ok: true, value: { t: Array<{ name: string }> } }
    resolved.value.t[0]!.name = 'changed'
    expect((outputs.get('nlp') as { topics: Array<{ name: string }> }).topics[0]!.name).toBe('specs')
  })

  it('says precisely why a reference names nothing', () => {
    const fail = (input: unknown): string => {
      const r = resolveInput(input, outputs)
      expect(r.ok).toBe(false)
      return `${(r as { path: string }).path}: ${(r as { message: string }).message}`
    }
    expect(fail({ t: '${audio.output.txt}' })).toBe('input.t: ${audio.output.txt}: audio.output has no key "txt" (it has "text", "seconds", "words", "meta", "nothing"); fix the reference')
    expect(fail({ t: '${nlp.output.topics[5]}' })).toMatch(/nlp\.output\.topics has 2 items, so no item \[5\]/)
    expect(fail({ t: '${audio.output.text[0]}' })).toMatch(/audio\.output\.text is a string, not a list/)
    expect(fail({ t: '${audio.output.seconds.x}' })).toMatch(/audio\.output\.seconds is a number, not an object, so it has no key "x"/)
    expect(fail({ list: ['${summ.output}'] })).toMatch(/^input\.list\[0\]: \$\{summ\.output\}: job summ has no output/)
  })
})
