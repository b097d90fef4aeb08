import { describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { BYTES_PER_LARGEST_JOB, DEFAULT_RELAY_LIMITS, inDialOrder, OwnAddresses, parseAnnounceAddresses, reachabilityConfig, reachabilityOf, relayLimits } from '../../../src/net/reachability.ts'
import { MAX_INPUT_BYTES, MAX_OUTPUT_BYTES } from '../../../src/wire/constants.ts'

const RELAY = '12D3KooWLp1M4aiDwozN5J1gc6FDziGZAuPujQ1g32EkiS9asktR'
const SELF = '12D3KooWFPry4BDh2WUGihYGAqbfBH32vAfkmHao5BF4zRvZXmFe'
const circuit = `/ip4/198.51.100.7/tcp/4011/p2p/${RELAY}/p2p-circuit/p2p/${SELF}`

describe('relay limits', () => {
  it('a relay server gets the documented defaults, which hold the largest job many times over', () => {
    expect(relayLimits(true)).toEqual(DEFAULT_RELAY_LIMITS)
    expect(DEFAULT_RELAY_LIMITS.dataLimitBytes).toBeGreaterThanOrEqual(15 * BYTES_PER_LARGEST_JOB)
    expect(BYTES_PER_LARGEST_JOB).toBeGreaterThan(MAX_INPUT_BYTES + MAX_OUTPUT_BYTES)
    expect(relayLimits(false)).toBeUndefined()
    expect(relayLimits(undefined)).toBeUndefined()
    expect(relayLimits({ maxReservations: 4 })).toEqual({ ...DEFAULT_RELAY_LIMITS, maxReservations: 4 })
  })

  it('refuses limits a job cannot fit in, or that are not whole numbers, naming the field', () => {
    expect(() => relayLimits({ dataLimitBytes: 128 * 1024 })).toThrow(/relayServer\.dataLimitBytes 131072 is below 2162688/)
    expect(() => relayLimits({ durationLimitMs: 0 })).toThrow(/relayServer\.durationLimitMs is 0; it must be a whole number > 0/)
    expect(() => relayLimits({ maxReservations: 1.5 })).toThrow(/relayServer\.maxReservations/)
  })
})

describe('announce addresses', () => {
  it('takes multiaddrs without /p2p and refuses the rest with the fix', () => {
    expect(parseAnnounceAddresses(['/ip4/203.0.113.5/tcp/4011']).map(String)).toEqual(['/ip4/203.0.113.5/tcp/4011'])
    expect(() => parseAnnounceAddresses(['203.0.113.5:4011'])).toThrow(/--announce 203\.0\.113\.5:4011 is not a multiaddr .*expected e\.g\. \/ip4\//)
    expect(() => parseAnnounceAddresses([`/ip4/203.0.113.5/tcp/4011/p2p/${SELF}`])).toThrow(/has a \/p2p\/<peer id>; give the address without it/)
  })

  it('a node that announces or relays reserves no relay slot; any other runs the relay client', () => {
    const services = (init: Parameters<typeof reachabilityConfig>[0]): string[] => Object.keys(reachabilityConfig(init).services).sort()
    expect(services({})).toEqual(['autoNAT', 'dcutr', 'reachability', 'relayClient'])
    expect(services({ announce: ['/ip4/203.0.113.5/tcp/4011'] })).toEqual(['autoNAT', 'dcutr', 'reachability'])
    expect(services({ relayServer: true })).toEqual(['autoNAT', 'dcutr', 'reachability', 'relay'])
    expect(services({ relayServer: true, relayClient: true })).toEqual(['autoNAT', 'dcutr', 'reachability', 'relay', 'relayClient'])
    // Never a bare /p2p-circuit listen address: it starts libp2p's relay discovery (see reachability.ts).
    expect(reachabilityConfig({}).listen).toEqual([])
  })
})

describe('reachability report and dial order', () => {
  it('public beats relayed beats private', () => {
    expect(reachabilityOf([multiaddr('/ip4/192.168.1.2/tcp/1')]).status).toBe('private')
    expect(reachabilityOf([multiaddr('/ip4/192.168.1.2/tcp/1'), multiaddr(circuit)])).toEqual({ status: 'relayed', public: [], relayed: [circuit] })
    expect(reachabilityOf([multiaddr('/ip4/8.8.4.4/tcp/1'), multiaddr(circuit)]).status).toBe('public')
    expect(reachabilityOf([multiaddr('/dns4/node.example.org/tcp/1')]).status).toBe('public')
  })

  it('lists public addresses first, then relayed, then private and loopback, each group in its order', () => {
    const given = ['/ip4/127.0.0.1/tcp/1', '/ip4/10.0.0.2/tcp/1', circuit, '/ip4/8.8.4.4/tcp/1', '/ip6/::1/tcp/1']
    expect(inDialOrder(given.map(a => multiaddr(a))).map(String)).toEqual([
      '/ip4/8.8.4.4/tcp/1', circuit, '/ip4/127.0.0.1/tcp/1', '/ip4/10.0.0.2/tcp/1', '/ip6/::1/tcp/1'
    ])
  })

  it('own addresses in dial order are recomputed when they change, or when a copy is too old, and not per call', () => {
    let addrs = ['/ip4/127.0.0.1/tcp/1', '/ip4/8.8.4.4/tcp/1']
    let reads = 0
    const listeners = new Set<() => void>()
    let now = 1_000
    const own = new OwnAddresses({
      getMultiaddrs: () => { reads++; return addrs.map(a => multiaddr(a)) },
      addEventListener: (_event, listener) => { listeners.add(listener) },
      removeEventListener: (_event, listener) => { listeners.delete(listener) }
    }, { maxAgeMs: 5_000, now: () => now })
    expect(own.current()).toEqual(['/ip4/8.8.4.4/tcp/1', '/ip4/127.0.0.1/tcp/1'])
    expect(own.current()).toEqual(['/ip4/8.8.4.4/tcp/1', '/ip4/127.0.0.1/tcp/1'])
    expect(reads).toBe(1)
    // A new address (a relay reservation) is announced by self:peer:update: the next bid carries it.
    addrs = [...addrs, circuit]
    for (const listener of listeners) listener()
    expect(own.current()).toEqual(['/ip4/8.8.4.4/tcp/1', circuit, '/ip4/127.0.0.1/tcp/1'])
    expect(reads).toBe(2)
    // One that changed unannounced is picked up once the copy is older than maxAgeMs.
    addrs = ['/ip4/8.8.8.8/tcp/1']
    now += 5_001
    expect(own.current()).toEqual(['/ip4/8.8.8.8/tcp/1'])
    own.stop()
    expect(listeners.size).toBe(0)
  })
})
