import { readFile } from 'node:fs/promises'
import { peerIdFromString } from '@libp2p/peer-id'
import { homePaths } from '../store/home.ts'

/**
 * The operator's trust settings, from `<home>/config.json`:
 *
 *   { "trustedPeers": ["12D3KooW…", "12D3KooW…"],
 *     "reputation": { "halfLifeHours": 168, "teleport": 0.2 } }
 *
 * Both keys are optional; other keys of config.json belong to other parts of
 * the node and are left alone. The node itself is always pre-trusted.
 */
export interface ReputationConfig {
  trustedPeers: string[]
  halfLifeMs?: number
  teleport?: number
}

export class ReputationConfigError extends Error {
  override name = 'ReputationConfigError'
}

export async function loadReputationConfig (home: string): Promise<ReputationConfig> {
  const file = homePaths(home).config
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { trustedPeers: [] }
    throw err
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new ReputationConfigError(`${file} is not valid JSON: ${(err as Error).message}`)
  }
  return parseReputationConfig(raw, file)
}

export function parseReputationConfig (raw: unknown, where = 'config.json'): ReputationConfig {
  if (raw == null || typeof raw !== 'object' || Array.isArray(raw)) throw new ReputationConfigError(`${where} must hold a JSON object`)
  const { trustedPeers, reputation } = raw as { trustedPeers?: unknown, reputation?: unknown }
  const config: ReputationConfig = { trustedPeers: [] }
  if (trustedPeers !== undefined) {
    if (!Array.isArray(trustedPeers)) throw new ReputationConfigError(`${where}: trustedPeers must be an array of peer ids`)
    for (const [i, peer] of trustedPeers.entries()) {
      if (typeof peer !== 'string' || !isPeerId(peer)) throw new ReputationConfigError(`${where}: trustedPeers[${i}] is not a peer id: ${JSON.stringify(peer)}`)
      if (!config.trustedPeers.includes(peer)) config.trustedPeers.push(peer)
    }
  }
  if (reputation !== undefined) {
    if (reputation == null || typeof reputation !== 'object' || Array.isArray(reputation)) throw new ReputationConfigError(`${where}: reputation must be an object`)
    const { halfLifeHours, teleport } = reputation as { halfLifeHours?: unknown, teleport?: unknown }
    if (halfLifeHours !== undefined) {
      if (typeof halfLifeHours !== 'number' || !(halfLifeHours > 0) || !Number.isFinite(halfLifeHours)) throw new ReputationConfigError(`${where}: reputation.halfLifeHours must be a positive number`)
      config.halfLifeMs = halfLifeHours * 60 * 60 * 1000
    }
    if (teleport !== undefined) {
      if (typeof teleport !== 'number' || !(teleport > 0 && teleport <= 1)) throw new ReputationConfigError(`${where}: reputation.teleport must be a number in (0, 1]`)
      config.teleport = teleport
    }
  }
  return config
}

function isPeerId (value: string): boolean {
  try {
    peerIdFromString(value)
    return true
  } catch {
    return false
  }
}
