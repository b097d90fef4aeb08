/** "Did you mean X?" for misspelt field names and keywords. */

export function levenshtein (a: string, b: string): number {
  if (a === b) return 0
  if (a.length === 0) return b.length
  if (b.length === 0) return a.length
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost)
    }
    previous = current
  }
  return previous[b.length]!
}

/** Lower case with `_`, `-` and spaces removed: `max_USD`, `maxUsd` and `Max-Usd` all fold to `maxusd`. */
export function foldName (name: string): string {
  return name.toLowerCase().replace(/[_\-\s]/g, '')
}

/**
 * The candidate a mistyped `name` most likely meant: one equal to it ignoring case and
 * separators, else the nearest within edit distance 2 (case-insensitive). Names of one or
 * two characters only match exactly-folded, so `a` does not "mean" `id`.
 */
export function didYouMean (name: string, candidates: Iterable<string>): string | undefined {
  const folded = foldName(name)
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    if (foldName(candidate) === folded) return candidate
    if (name.length <= 2) continue
    const distance = levenshtein(name.toLowerCase(), candidate.toLowerCase())
    if (distance <= 2 && distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

/** camelCase to snake_case: `maxConcurrentRequests` → `max_concurrent_requests`. */
export function snakeCase (camel: string): string {
  return camel.replace(/[A-Z]/g, c => '_' + c.toLowerCase())
}

/** Appends a key to a problem path, quoting keys that are not plain identifiers. */
export function joinPath (base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`
  const part = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? key : JSON.stringify(key)
  if (base === '') return part
  return part.startsWith('"') ? `${base}[${part}]` : `${base}.${part}`
}

/** A value quoted for a message, shortened so one problem stays one line. */
export function show (value: unknown, max = 60): string {
  let text: string
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value)
  } catch {
    text = String(value)
  }
  text = text.replace(/\s+/g, ' ')
  return text.length > max ? text.slice(0, max - 1) + '…' : text
}

/** "a string", "a number", "a list", "a mapping", "null"… for type-mismatch messages. */
export function describeType (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  switch (typeof value) {
    case 'string': return 'a string'
    case 'number': return 'a number'
    case 'boolean': return 'a boolean'
    case 'object': return 'a mapping'
    default: return `a ${typeof value}`
  }
}
