/**
 * Altered copies of a well-formed parsed message, for holding a hand-written
 * shape check (src/wire/plain-shape.ts and its users) to the schema it is a
 * shortcut for: each member at each given path dropped, set to an odd value,
 * or joined by an extra one, and the value made non-plain in a few ways.
 */

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T

/** Values no schema field takes in every case: wrong types, limits and one past them, odd objects. */
export const ODD_VALUES: unknown[] = [undefined, null, true, false, 0, -0, -1, 1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER, 1e308, Infinity, -Infinity, NaN, 1024 * 1024, 1024 * 1024 + 1, 60_000, 60_001, 101, 102, '', 'x', 'x'.repeat(64), 'x'.repeat(65), 'x'.repeat(128), 'x'.repeat(129), '😀'.repeat(64), '😀'.repeat(65), 'x'.repeat(2000), 'x'.repeat(2001), 'CD'.repeat(32), 'cd'.repeat(31), 'cd'.repeat(32), 'A'.repeat(86), 'A'.repeat(85), 'A'.repeat(85) + '=', 'claim', 'receipt', 'success', 'unreachable', '12D3KooWnotapeerid', {}, [], [1], { a: 1 }]

function at (root: unknown, path: string[]): Record<string, unknown> {
  let here = root as Record<string, unknown>
  for (const key of path) here = here[key] as Record<string, unknown>
  return here
}

/**
 * `raw` altered at every key of the objects at `paths` (each a list of keys
 * from the root to an object inside it): `keys[path]` names the keys to try
 * there (its members, an extra, `__proto__`, `constructor`).
 */
export function alteredCopies (raw: Record<string, unknown>, places: Array<{ path: string[], keys: string[] }>, values: unknown[] = ODD_VALUES): unknown[] {
  const cases: unknown[] = [null, [], 'x', 1, Object.assign(Object.create({ inherited: 1 }), raw), Object.assign(Object.create(null), raw)]
  for (const { path, keys } of places) {
    for (const key of [...keys, 'extra', '__proto__', 'constructor']) {
      const dropped = clone(raw)
      delete at(dropped, path)[key]
      cases.push(dropped)
      for (const value of values) {
        const changed = clone(raw)
        Object.defineProperty(at(changed, path), key, { value, enumerable: true, configurable: true, writable: true })
        cases.push(changed)
      }
      const hidden = clone(raw)
      Object.defineProperty(at(hidden, path), key, { value: at(raw, path)[key] ?? 1, enumerable: false, configurable: true, writable: true })
      cases.push(hidden)
    }
    const symbol = clone(raw)
    at(symbol, path)[Symbol('extra') as unknown as string] = 1
    cases.push(symbol)
    if (path.length > 0) {
      const parent = clone(raw)
      const last = path[path.length - 1]!
      Object.defineProperty(at(parent, path.slice(0, -1)), last, { value: Object.assign(Object.create({ inherited: 1 }), at(raw, path)), enumerable: true, configurable: true, writable: true })
      cases.push(parent)
      for (const value of values) {
        const replaced = clone(raw)
        Object.defineProperty(at(replaced, path.slice(0, -1)), last, { value, enumerable: true, configurable: true, writable: true })
        cases.push(replaced)
      }
    }
  }
  return cases
}

/**
 * Runs `shortcut` and `schemaAccepts` on every case: whatever the shortcut
 * passes the schema must accept. Returns the counts, so a test can check the
 * comparison was not empty on either side.
 */
export function compareWithSchema (cases: unknown[], shortcut: (value: unknown) => boolean, schemaAccepts: (value: unknown) => boolean): { passed: number, refusedByBoth: number, contradicted: unknown[] } {
  let passed = 0
  let refusedByBoth = 0
  const contradicted: unknown[] = []
  for (const value of cases) {
    if (shortcut(value)) {
      passed++
      if (!schemaAccepts(value)) contradicted.push(value)
    } else if (!schemaAccepts(value)) refusedByBoth++
  }
  return { passed, refusedByBoth, contradicted }
}
