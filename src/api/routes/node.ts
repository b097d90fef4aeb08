import type { Route } from '../router.ts'
import type { RouteContext } from './context.ts'

/** Who this node is and whom it is connected to. */
export function nodeRoutes ({ node, apiUrl }: RouteContext): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/id',
      handler: () => ({ body: { peerId: node.peerId, multiaddrs: node.multiaddrs(), api: apiUrl() } })
    },
    {
      method: 'GET',
      path: '/v1/peers',
      handler: () => ({ body: node.peers() })
    }
  ]
}
