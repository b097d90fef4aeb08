import { randomFillSync } from 'node:crypto'

/** Bytes drawn from the system's generator at once: one call per 512 nonces. */
const POOL_BYTES = 4096
const NONCE_BYTES = 8
const pool = Buffer.alloc(POOL_BYTES)
let used = POOL_BYTES

/**
 * 16 random hex digits (8 bytes), the nonce that makes two messages with the
 * same content distinct (a job's, a lease call's). Taken from a pool filled
 * 4 KB at a time: a coordinator seals a job per nonce, and a call into the
 * system's generator per job cost more than the nonce's share of the job
 * (bench:jobs' coordinator profile, lease path). A nonce need be unique, not
 * secret; each pool byte is used once.
 */
export function randomNonce (): string {
  if (used + NONCE_BYTES > POOL_BYTES) {
    randomFillSync(pool)
    used = 0
  }
  const nonce = pool.toString('hex', used, used + NONCE_BYTES)
  used += NONCE_BYTES
  return nonce
}
