// Two nodes in one program: an agent that serves a spec, and a requester that
// submits a job to it over the mesh. From a checkout:  npx node examples/sdk-two-nodes.ts
// (in a project with the package installed, import from 'specmesh' instead).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createNode, loadSpecFile } from '../src/index.ts'

const data = await mkdtemp(join(tmpdir(), 'specmesh-sdk-'))
const requester = await createNode({ home: join(data, 'requester'), listen: ['/ip4/127.0.0.1/tcp/0'] })
const agent = await createNode({ home: join(data, 'agent'), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [requester.multiaddrs()[0]!] })

// The agent publishes the spec and serves it with a TypeScript function.
const spec = await loadSpecFile(fileURLToPath(new URL('entity-extraction.yaml', import.meta.url)))
const { id } = await agent.publishSpec(spec)
await agent.serve(id, async (input) => {
  const { text } = input as { text: string }
  const names = [...new Set(text.match(/\b[A-Z][a-z]+\b/g) ?? [])]
  return { entities: names.map(value => ({ type: 'person', value, confidence: 90 })) }
}, { priceUsd: 0.04, estimatedMs: 50 })

// The requester needs the spec (gossiped) before it submits; its first job joins the spec's
// topics, where the agent answers with its capacity advert.
const until = Date.now() + 20_000
while ((await requester.getSpec(id)) == null) {
  if (Date.now() > until) throw new Error('the two nodes did not find each other within 20 s')
  await new Promise(resolve => setTimeout(resolve, 50))
}
const result = await requester.submitJob(id, { text: 'Ada Lovelace met Charles Babbage in London' })
console.log(result.status, JSON.stringify(result.output), `receipt ${result.receipt?.id}`, `cost ${result.costUsd} USD`)

await agent.stop()
await requester.stop()
await rm(data, { recursive: true, force: true })
