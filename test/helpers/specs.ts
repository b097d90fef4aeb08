import { validateSpec, type Spec } from '../../src/spec/index.ts'

/** A small valid spec; `name` makes each one distinct so each has its own id. */
export function sampleSpec (name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    version: '1.0.0',
    description: 'extract entities with a confidence score',
    input: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    output: {
      type: 'object',
      properties: {
        entities: {
          type: 'array',
          items: { type: 'object', properties: { name: { type: 'string' }, confidence: { type: 'number' } }, required: ['name', 'confidence'] }
        }
      },
      required: ['entities']
    },
    successCriteria: ['output.entities.all(e, e.confidence >= 75)'],
    costUsd: 0.1,
    executionWindow: 30,
    budget: { maxUsd: 0.5, currency: 'USD', includesFees: true, overageBehavior: 'fail' },
    capacity: { maxConcurrentRequests: 3, maxConcurrentRetries: 1, backoffMultiplier: 2, maxRetries: 3, timeoutSeconds: 30 },
    ...overrides
  }
}

/** The canonical body of sampleSpec(name), as a node would sign it. */
export function normalizedSample (name: string, overrides: Record<string, unknown> = {}): Spec {
  const checked = validateSpec(sampleSpec(name, overrides))
  if (!checked.ok) throw new Error(`sample spec is invalid: ${JSON.stringify(checked.problems)}`)
  return checked.spec
}
