import { z } from 'zod'

/**
 * Lengths of strings on the wire count UTF-16 code units (JavaScript's
 * `length`; a character outside the Basic Multilingual Plane counts 2), the
 * unit RFC 8785 sorts member names by. zod's `.max` counts code points, as JSON
 * Schema's maxLength does, which is never more: the refinement is the binding
 * check, and `.max` stays so the generated schemas still state the limit
 * (their $comment says which unit it is in).
 */
export function wireString (max: number, min = 0): z.ZodString {
  const base = min > 0 ? z.string().min(min) : z.string()
  return base.max(max).refine(s => s.length <= max, { message: `at most ${max} UTF-16 code units (a character outside the Basic Multilingual Plane counts 2)` })
}
