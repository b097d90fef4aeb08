import { describe, expect, it } from 'vitest'
import { downstreamOf, findCycles, topologicalOrder } from '../../../src/workflow/graph.ts'

const graph = (edges: Record<string, string[]>): Map<string, string[]> => new Map(Object.entries(edges))

describe('the dependency graph', () => {
  it('orders jobs after everything they need', () => {
    const order = topologicalOrder(graph({ d: ['b', 'c'], b: ['a'], c: ['a'], a: [] }))
    expect(order.indexOf('a')).toBeLessThan(order.indexOf('b'))
    expect(order.indexOf('a')).toBeLessThan(order.indexOf('c'))
    expect(order.indexOf('b')).toBeLessThan(order.indexOf('d'))
    expect(order.indexOf('c')).toBeLessThan(order.indexOf('d'))
  })

  it('finds each cycle once, self-loops included, and none in a DAG', () => {
    expect(findCycles(graph({ a: [], b: ['a'], c: ['a', 'b'] }))).toEqual([])
    expect(findCycles(graph({ a: ['b'], b: ['a'] }))).toEqual([['a', 'b', 'a']])
    expect(findCycles(graph({ a: ['a'] }))).toEqual([['a', 'a']])
    expect(findCycles(graph({ a: ['b'], b: ['c'], c: ['a'], x: ['y'], y: ['x'] }))).toEqual([['a', 'b', 'c', 'a'], ['x', 'y', 'x']])
  })

  it('lists everything downstream of a job, nearest first, with the jobs in between', () => {
    const g = graph({ audio: [], nlp: ['audio'], summ: ['nlp'], other: [], both: ['summ', 'other'] })
    expect(downstreamOf(g, 'audio')).toEqual([
      { id: 'nlp', via: [] },
      { id: 'summ', via: ['nlp'] },
      { id: 'both', via: ['nlp', 'summ'] }
    ])
    expect(downstreamOf(g, 'other')).toEqual([{ id: 'both', via: [] }])
    expect(downstreamOf(g, 'both')).toEqual([])
  })
})
