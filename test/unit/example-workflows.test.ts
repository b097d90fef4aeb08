/**
 * The workflows under examples/ run as their headers say: once the spec files
 * they name are published, the node resolves every job's spec and accepts
 * every plain input (what `specmesh workflow run` checks before anything is
 * submitted). The node here is an in-memory list of those specs: resolving
 * needs nothing else of a node.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { StoredSpec } from '../../src/node-types.ts'
import { loadSpecFile, specId } from '../../src/spec/index.ts'
import { loadWorkflowFile, resolveWorkflow, type WorkflowNode } from '../../src/workflow/index.ts'

const ROOT = join(import.meta.dirname, '../..')

async function nodeHolding (files: string[]): Promise<WorkflowNode> {
  const specs: StoredSpec[] = []
  for (const file of files) {
    const spec = await loadSpecFile(join(ROOT, file))
    specs.push({ id: specId(spec), spec, signer: '', sig: '', receivedAt: 0 })
  }
  return {
    getSpec: async id => specs.find(s => s.id === id) ?? null,
    listSpecs: async () => specs,
    matchIds: async (_kind, prefix, limit) => specs.map(s => s.id).filter(id => id.startsWith(prefix)).slice(0, limit),
    submitJob: async () => { throw new Error('resolving submits nothing') },
    getJob: async () => null
  }
}

/** The spec files a workflow's header says to publish. */
async function publishedBy (workflowFile: string): Promise<string[]> {
  const text = await readFile(join(ROOT, workflowFile), 'utf8')
  return [...text.matchAll(/^#\s+specmesh spec publish (\S+)/gm)].map(m => m[1]!)
}

describe('the example workflows', () => {
  for (const [file, specCount] of [['examples/workflows/diamond.yaml', 4], ['examples/workflows/article-pipeline.yaml', 1]] as const) {
    it(`${file} resolves against the specs its header publishes`, async () => {
      const published = await publishedBy(file)
      expect(published.length).toBe(specCount)
      // The article pipeline's header names one file "and the other two" of its folder.
      const files = file.endsWith('article-pipeline.yaml')
        ? ['transcribe-video', 'extract-topics', 'write-summary'].map(n => `scripts/demo/specs/${n}.yaml`)
        : published
      const workflow = await loadWorkflowFile(join(ROOT, file))
      const resolved = await resolveWorkflow(await nodeHolding(files), workflow)
      expect([...resolved.specs.values()].map(s => s.spec.name).sort())
        .toEqual([...new Set(workflow.jobs.map(j => j.spec.split('@')[0]))].sort())
    })
  }
})
