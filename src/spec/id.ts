import { contentId } from '../crypto/content-id.ts'
import type { Spec } from './schema.ts'

/**
 * The spec id: the content id (CIDv1, sha2-256 of RFC 8785 canonical JSON) of the
 * normalized spec. Normalization gives every spelling of one spec the same body, so
 * YAML or JSON, key order and snake_case aliases do not change the id.
 */
export function specId (spec: Spec): string {
  return contentId(spec)
}
