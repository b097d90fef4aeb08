import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { renderAllSchemas, SCHEMA_DIR } from '../../../scripts/gen-schemas.ts'

const HOW_TO_FIX = 'protocols/schemas/ is out of date with the zod types: run `npm run gen:schemas` and commit the result'

describe('protocols/schemas', () => {
  const expected = renderAllSchemas()

  it('publishes the envelope, every message body (lease messages too), the sync request and the spec-fetch request', () => {
    expect([...expected.keys()].sort()).toEqual([
      'award.schema.json', 'bid-answer.schema.json', 'bid.schema.json', 'cancel-frame.schema.json', 'capacity.schema.json', 'claim.schema.json', 'envelope.schema.json',
      'job.schema.json', 'lease-award.schema.json', 'lease-bid.schema.json', 'lease-call.schema.json', 'lease-end.schema.json', 'lease.schema.json', 'receipt-batch.schema.json', 'receipt.schema.json', 'spec-fetch-request.schema.json', 'spec.schema.json', 'sync-request.schema.json'
    ])
  })

  for (const [file, text] of expected) {
    it(`${file} matches the zod types`, async () => {
      let committed: string
      try {
        committed = await readFile(join(SCHEMA_DIR, file), 'utf8')
      } catch {
        throw new Error(`protocols/schemas/${file} is missing. ${HOW_TO_FIX}`)
      }
      expect(committed, `protocols/schemas/${file} differs. ${HOW_TO_FIX}`).toBe(text)
    })
  }

  it('holds no schema that is no longer generated', async () => {
    const files = (await readdir(SCHEMA_DIR)).filter(f => f.endsWith('.json'))
    const stale = files.filter(f => !expected.has(f))
    expect(stale, `stale files in protocols/schemas. ${HOW_TO_FIX} and delete them`).toEqual([])
  })

  it('renders deterministically: sorted keys, two-space indent, one trailing newline', () => {
    const again = renderAllSchemas()
    for (const [file, text] of expected) {
      expect(again.get(file)).toBe(text)
      expect(text.endsWith('}\n')).toBe(true)
      expect(text.endsWith('\n\n')).toBe(false)
      const walk = (value: unknown): void => {
        if (Array.isArray(value)) { value.forEach(walk); return }
        if (value !== null && typeof value === 'object') {
          const keys = Object.keys(value)
          expect(keys).toEqual([...keys].sort())
          Object.values(value).forEach(walk)
        }
      }
      const parsed = JSON.parse(text) as Record<string, unknown>
      walk(parsed)
      expect(parsed.$schema).toBe('https://json-schema.org/draft/2020-12/schema')
      expect(JSON.stringify(parsed, null, 2) + '\n').toBe(text)
    }
  })
})
