/** Discovery was asked for while the node runs without its DHT (config.json "dht": false). */
export class DhtDisabledError extends Error {
  override name = 'DhtDisabledError'
  readonly code = 'dht_disabled'
  constructor () {
    super('this node runs without the DHT ("dht": false in config.json, SPECMESH_DHT=false or --no-dht), so it cannot look up providers')
  }
}

/** No provider of a spec answered a fetch with the spec. */
export class SpecFetchError extends Error {
  override name = 'SpecFetchError'
  readonly code = 'spec_not_found'
  readonly specId: string
  constructor (specId: string, detail: string) {
    super(`spec ${specId} is not held here and could not be fetched from the mesh: ${detail}`)
    this.specId = specId
  }
}

/** A spec-fetch peer broke the protocol (a frame that is not what was asked for). */
export class SpecFetchProtocolError extends Error {
  override name = 'SpecFetchProtocolError'
}
