import type { SpecmeshNode } from '../../node-types.ts'

/** What every route module may use. Extend here when a route family needs more. */
export interface RouteContext {
  node: SpecmeshNode
  /** The API's own base URL, known once the server listens. */
  apiUrl: () => string
}
