import { MAX_REGEX_CHARS } from './constants.ts'

/**
 * A screen for regular expressions that a spec applies to strangers' output (schema
 * `pattern`/`patternProperties`, CEL `matches`). JavaScript's engine backtracks, so a
 * pattern such as `(a+)+$` takes exponential time on a crafted string. This refuses the
 * shapes that cause exponential blow-up: a repeated group that itself contains a
 * repetition (star height above one) and backreferences. It does not prove a pattern
 * linear: polynomial backtracking (`a.*b.*c` on a long string) still costs time, which
 * is why output size is capped and why nodes should run with V8's
 * `--enable-experimental-regexp-engine-on-excessive-backtracks`.
 *
 * Returns undefined when the pattern is acceptable, else what is wrong and what to do.
 */
export function regexProblem (pattern: string, flags: '' | 'u'): string | undefined {
  if (pattern.length > MAX_REGEX_CHARS) {
    return `the regular expression is ${pattern.length} characters long, more than ${MAX_REGEX_CHARS}; shorten it`
  }
  try {
    new RegExp(pattern, flags)
  } catch (err) {
    return `${JSON.stringify(pattern)} is not a valid regular expression (${(err as Error).message.replace(/^Invalid regular expression: /, '')}); fix its syntax`
  }
  const frames: Array<{ repeats: boolean }> = [{ repeats: false }]
  let i = 0
  /** Whether the atom just before a quantifier was a group containing a repetition. */
  let lastAtomRepeats = false
  while (i < pattern.length) {
    const c = pattern[i]!
    if (c === '\\') {
      const next = pattern[i + 1] ?? ''
      if (/[1-9]/.test(next) || (next === 'k' && pattern[i + 2] === '<')) {
        return `${JSON.stringify(pattern)} uses a backreference, which can take exponential time on crafted input; rewrite it without \\1 or \\k<name>`
      }
      i += 2
      // \u{1F600} and \p{Letter} carry braces that are not a {n,m} quantifier.
      if ((next === 'u' || next === 'p' || next === 'P') && pattern[i] === '{') {
        while (i < pattern.length && pattern[i] !== '}') i++
        i++
      }
      lastAtomRepeats = false
      continue
    }
    if (c === '[') {
      i++
      if (pattern[i] === '^') i++
      if (pattern[i] === ']') i++
      while (i < pattern.length && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1
      i++
      lastAtomRepeats = false
      continue
    }
    if (c === '(') {
      frames.push({ repeats: false })
      i++
      if (pattern[i] === '?') {
        // (?: (?= (?! (?<= (?<! (?<name>
        i++
        if (pattern[i] === '<' && pattern[i + 1] !== '=' && pattern[i + 1] !== '!') {
          while (i < pattern.length && pattern[i] !== '>') i++
        }
        i++
      }
      lastAtomRepeats = false
      continue
    }
    if (c === ')') {
      const frame = frames.length > 1 ? frames.pop()! : { repeats: false }
      lastAtomRepeats = frame.repeats
      if (frame.repeats) frames[frames.length - 1]!.repeats = true
      i++
      continue
    }
    const quantifier = readQuantifier(pattern, i)
    if (quantifier != null) {
      if (quantifier.repeats) {
        if (lastAtomRepeats) {
          return `${JSON.stringify(pattern)} repeats a group that already contains a repetition (like (a+)+), which can take exponential time on crafted input; rewrite it with a single level of repetition, e.g. (ab)+ or [ab]+`
        }
        frames[frames.length - 1]!.repeats = true
      }
      i = quantifier.end
      lastAtomRepeats = false
      continue
    }
    lastAtomRepeats = false
    i++
  }
  return undefined
}

function readQuantifier (pattern: string, i: number): { repeats: boolean, end: number } | undefined {
  const c = pattern[i]
  let end: number
  let repeats: boolean
  if (c === '*' || c === '+') {
    repeats = true
    end = i + 1
  } else if (c === '?') {
    repeats = false
    end = i + 1
  } else if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i))
    if (m == null) return undefined
    const max = m[2] == null ? Number(m[1]) : (m[3] === '' ? Infinity : Number(m[3]))
    repeats = max > 1
    end = i + m[0].length
  } else {
    return undefined
  }
  if (pattern[end] === '?') end++
  return { repeats, end }
}
