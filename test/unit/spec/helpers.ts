import { expect } from 'vitest'
import { validateSpec, type Problem, type Spec, type ValidateOptions } from '../../../src/spec/index.ts'

/** A small valid spec in canonical camelCase; tests copy and change it. */
export function baseSpec (): Record<string, unknown> {
  return {
    name: 'extract-entities',
    version: '1.0.0',
    input: {
      type: 'object',
      properties: { text: { type: 'string', maxLength: 10000 } },
      required: ['text']
    },
    output: {
      type: 'object',
      properties: {
        entities: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              type: { enum: ['person', 'place', 'org'] },
              value: { type: 'string' },
              confidence: { type: 'number', minimum: 0, maximum: 100 }
            },
            required: ['type', 'value', 'confidence']
          }
        }
      },
      required: ['entities']
    },
    successCriteria: ['output.entities.all(e, e.confidence >= 75)'],
    costUsd: 0.05,
    budget: { maxUsd: 0.5, overageBehavior: 'fail' },
    capacity: { maxConcurrentRequests: 5, backoffMultiplier: 1.5, maxRetries: 3 }
  }
}

export function valid (raw: unknown, options?: ValidateOptions): Spec {
  const result = validateSpec(raw, options)
  if (!result.ok) throw new Error('expected a valid spec, got:\n' + result.problems.map(p => `${p.path}: ${p.message}`).join('\n'))
  return result.spec
}

export function problemsOf (raw: unknown, options?: ValidateOptions): Problem[] {
  const result = validateSpec(raw, options)
  if (result.ok) throw new Error('expected problems, but the spec is valid')
  return result.problems
}

/** The one problem at `path`, asserting there is exactly one there. */
export function problemAt (problems: Problem[], path: string): Problem {
  const here = problems.filter(p => p.path === path)
  expect(here, `problems at ${path} among:\n${problems.map(p => `${p.path}: ${p.message}`).join('\n')}`).toHaveLength(1)
  return here[0]!
}

/** Every message must say what is wrong and, after a semicolon, what to do. */
export function expectActionable (problem: Problem): void {
  expect(problem.message).toMatch(/;\s*\S/)
  expect(problem.message).not.toMatch(/\n/)
}
