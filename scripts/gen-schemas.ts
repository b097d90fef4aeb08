/**
 * Generates protocols/schemas/*.schema.json from the zod types the node itself
 * validates with, so the language-neutral description cannot drift from the code
 * (test/unit/protocols/schemas.test.ts fails when a committed file differs).
 *
 *   npm run gen:schemas
 *
 * Output is deterministic: object keys are sorted recursively (array order is
 * kept, it is meaningful), two-space indentation, one trailing newline.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { z } from 'zod'
import { EnvelopeSchema } from '../src/wire/envelope.ts'
import { SyncRequestSchema } from '../src/net/sync.ts'
import { SpecFetchRequestSchema } from '../src/net/spec-discovery.ts'
import { AwardBodySchema, BidAnswerSchema, BidBodySchema, CapacityBodySchema, ClaimBodySchema, JobBodySchema, ReceiptBodySchema } from '../src/market/messages.ts'
import { SpecSchema } from '../src/spec/index.ts'
import { CancelFrameSchema } from '../src/market/exec-protocol.ts'
import { LeaseAwardBodySchema, LeaseBidBodySchema, LeaseBodySchema, LeaseCallBodySchema, LeaseEndBodySchema } from '../src/market/lease-messages.ts'
import { ReceiptBatchSchema } from '../src/market/receipt-batch.ts'

export const SCHEMA_DIR = fileURLToPath(new URL('../protocols/schemas/', import.meta.url))

interface SchemaSource {
  /** File name stem: protocols/schemas/<name>.schema.json */
  name: string
  title: string
  description: string
  schema: z.ZodType
}

/** Every schema published in protocols/schemas, with where it applies. */
export const SCHEMA_SOURCES: SchemaSource[] = [
  { name: 'envelope', title: 'specmesh envelope', description: 'Every specmesh message: gossip payloads, sync records, execution-stream award, claim and lease frames. A schema cannot say everything: the signature must be the canonical base64url spelling and the signer a PeerId in canonical base58btc form. See protocols/envelope.md.', schema: EnvelopeSchema },
  { name: 'spec', title: 'specmesh spec body', description: 'The body of an envelope of type "spec" (topic /specmesh/specs/1). See protocols/spec.md.', schema: SpecSchema },
  { name: 'job', title: 'specmesh job body', description: 'The body of an envelope of type "job" (topic /specmesh/spec/2/<specId>/jobs). See protocols/market.md.', schema: JobBodySchema },
  { name: 'bid', title: 'specmesh bid body', description: 'The body of an envelope of type "bid" (topic /specmesh/spec/2/<specId>/bids). See protocols/market.md.', schema: BidBodySchema },
  { name: 'award', title: 'specmesh award body', description: 'The body of an envelope of type "award" (first frame of each request on the execution stream; topic /specmesh/spec/2/<specId>/awards once the attempt is over). agent must be a PeerId in canonical base58btc form, which this schema cannot express. See protocols/market.md.', schema: AwardBodySchema },
  { name: 'claim', title: 'specmesh claim body', description: 'The body of an envelope of type "claim" (first frame of each reply on the execution stream; embedded in receipts). See protocols/market.md.', schema: ClaimBodySchema },
  { name: 'receipt', title: 'specmesh receipt body', description: 'The body of an envelope of type "receipt" (topic /specmesh/spec/2/<specId>/receipts, sync kind "receipt"). agent and claim.signer must be PeerIds in canonical base58btc form, which this schema cannot express. See protocols/market.md.', schema: ReceiptBodySchema },
  { name: 'receipt-batch', title: 'specmesh receipt batch', description: 'A message on /specmesh/spec/2/<specId>/receipts that is not one receipt envelope but an array of 1 to 64 of them (at most 131,072 bytes in all): every receipt names the topic\'s spec and has the same signer, and each is checked, stored and synced alone, in the bytes it stood in. The array is not signed. See protocols/market.md, Receipt batches.', schema: ReceiptBatchSchema },
  { name: 'capacity', title: 'specmesh capacity advert body', description: 'The body of an envelope of type "capacity" (topic /specmesh/spec/2/<specId>/capacity, where it names that spec alone): an agent\'s signed, short-lived statement of its load on the spec. See protocols/market.md.', schema: CapacityBodySchema },
  { name: 'lease-call', title: 'specmesh lease call body', description: 'The body of an envelope of type "lease-call" (topic /specmesh/spec/2/<specId>/leases): a coordinator calls for lease bids on some of the agents\' slots of the spec. See protocols/market.md "Leases".', schema: LeaseCallBodySchema },
  { name: 'lease-bid', title: 'specmesh lease bid body', description: 'The body of an envelope of type "lease-bid" (topic /specmesh/spec/2/<specId>/leases): an agent\'s offer of slots and a price per job for a lease call. See protocols/market.md "Leases".', schema: LeaseBidBodySchema },
  { name: 'lease', title: 'specmesh lease body', description: 'The body of an envelope of type "lease" (a frame of /specmesh/execute/1.2.0, then topic /specmesh/spec/2/<specId>/leases): the coordinator\'s award of a lease. agent must be a PeerId in canonical base58btc form, which this schema cannot express. See protocols/market.md "Leases".', schema: LeaseBodySchema },
  { name: 'lease-award', title: 'specmesh lease-award body', description: 'The body of an envelope of type "lease-award" (first frame of a request on /specmesh/execute/1.2.0): one job under a lease, embedding the job body whose content id is jobId. agent must be a PeerId in canonical base58btc form. See protocols/market.md "Leases".', schema: LeaseAwardBodySchema },
  { name: 'lease-end', title: 'specmesh lease-end body', description: 'The body of an envelope of type "lease-end" (a frame of /specmesh/execute/1.2.0, either direction): the signer ends the lease. See protocols/market.md "Leases".', schema: LeaseEndBodySchema },
  { name: 'cancel-frame', title: 'specmesh execution-stream cancel frame', description: 'A coordinator-to-agent frame of /specmesh/execute/1.1.0 (not an envelope): stop the request whose award has this id, read earlier from the same stream. See protocols/market.md.', schema: CancelFrameSchema },
  { name: 'bid-answer', title: 'specmesh bid-stream answer frame', description: 'A coordinator-to-agent frame of the bid stream /specmesh/bid/1.0.0 (not an envelope): the answer to one bid frame, in the order the bids came, accepted or refused with the validator\'s code. See protocols/market.md.', schema: BidAnswerSchema },
  { name: 'sync-request', title: 'specmesh sync request', description: 'The first frame of the sync stream /specmesh/sync/1.1.0 (not an envelope); 1.0.0 accepts kinds alone. since and ids cannot be combined. See protocols/sync.md.', schema: SyncRequestSchema },
  { name: 'spec-fetch-request', title: 'specmesh spec-fetch request', description: 'The one request frame of the spec-fetch stream /specmesh/spec-fetch/1.0.0 (not an envelope): the id of the spec asked for. See protocols/discovery.md.', schema: SpecFetchRequestSchema }
]

/** What a reader of these schemas in another language must know (protocols/README.md, "Schemas"). */
const SCHEMA_COMMENT = 'maxLength and minLength count UTF-16 code units (a character outside the Basic Multilingual Plane counts 2), not code points as JSON Schema defines them: a node MUST refuse a longer string. Every pattern is an ECMAScript regular expression: $ matches only at the very end (never before a final newline) and \\d is [0-9] only.'

function sortKeys (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>
    const sorted: Record<string, unknown> = {}
    for (const key of Object.keys(record).sort()) sorted[key] = sortKeys(record[key])
    return sorted
  }
  return value
}

/**
 * JSON Schema text of one source. The input side of each zod type is what a
 * node accepts off the wire, so that is what is published.
 */
export function renderSchema (source: SchemaSource): string {
  const generated = z.toJSONSchema(source.schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'throw' }) as Record<string, unknown>
  const document = { ...generated, title: source.title, description: source.description, $comment: SCHEMA_COMMENT }
  return JSON.stringify(sortKeys(document), null, 2) + '\n'
}

/** File name → content of every schema file. */
export function renderAllSchemas (): Map<string, string> {
  return new Map(SCHEMA_SOURCES.map(source => [`${source.name}.schema.json`, renderSchema(source)]))
}

async function main (): Promise<void> {
  await mkdir(SCHEMA_DIR, { recursive: true })
  for (const [file, text] of renderAllSchemas()) {
    await writeFile(join(SCHEMA_DIR, file), text)
    console.log(`wrote protocols/schemas/${file}`)
  }
}

if (process.argv[1] != null && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main()
}
