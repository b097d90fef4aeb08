import type { ConnectionEncrypter } from '@libp2p/interface'

type EncrypterFactory = (components: any) => ConnectionEncrypter

/**
 * What to do to each connection an encrypter secures: to the raw one before the
 * handshake (merged-writes.ts), to the secured one after it (short-reads.ts).
 * The connection encrypter is the one place that receives every connection,
 * inbound and outbound, TCP or relayed, before anything is sent on it.
 */
export interface ConnectionHooks {
  raw?: (connection: object) => void
  secured?: (connection: unknown) => void
}

/** The encrypter `factory` makes, with `hooks` applied to every connection it secures, inbound and outbound. */
export function withConnectionHooks (factory: EncrypterFactory, hooks: ConnectionHooks): EncrypterFactory {
  return (components: any) => {
    const inner = factory(components)
    const secured: ConnectionEncrypter = Object.create(inner)
    secured.secureOutbound = async (connection, options) => {
      hooks.raw?.(connection)
      const result = await inner.secureOutbound(connection, options)
      hooks.secured?.(result.connection)
      return result
    }
    secured.secureInbound = async (connection, options) => {
      hooks.raw?.(connection)
      const result = await inner.secureInbound(connection, options)
      hooks.secured?.(result.connection)
      return result
    }
    return secured
  }
}
