/**
 * The dependency graph of a workflow: job → the jobs it needs. Kept apart from the
 * file format so that validation and the runner share one definition of "depends on".
 */
export type Graph = ReadonlyMap<string, readonly string[]>

/**
 * Every cycle, each once, as the list of job ids along it with the first repeated at
 * the end (`['a', 'b', 'a']`). Jobs are visited in the graph's order, so the report is
 * stable for a given file.
 */
export function findCycles (graph: Graph): string[][] {
  const state = new Map<string, 'active' | 'done'>()
  const stack: string[] = []
  const cycles: string[][] = []
  const seen = new Set<string>()
  const visit = (id: string): void => {
    state.set(id, 'active')
    stack.push(id)
    for (const dep of graph.get(id) ?? []) {
      if (!graph.has(dep)) continue
      const s = state.get(dep)
      if (s === 'active') {
        const cycle = [...stack.slice(stack.indexOf(dep)), dep]
        // One cycle, whichever job it was entered from: key it by its sorted members.
        const key = [...new Set(cycle)].sort().join('\0')
        if (!seen.has(key)) {
          seen.add(key)
          cycles.push(cycle)
        }
      } else if (s == null) {
        visit(dep)
      }
    }
    stack.pop()
    state.set(id, 'done')
  }
  for (const id of graph.keys()) if (!state.has(id)) visit(id)
  return cycles
}

/** Jobs in an order where each comes after everything it needs (the graph must have no cycle). */
export function topologicalOrder (graph: Graph): string[] {
  const order: string[] = []
  const done = new Set<string>()
  const visit = (id: string): void => {
    if (done.has(id)) return
    done.add(id)
    for (const dep of graph.get(id) ?? []) if (graph.has(dep)) visit(dep)
    order.push(id)
  }
  for (const id of graph.keys()) visit(id)
  return order
}

/** job → the jobs that need it directly. */
export function dependentsOf (graph: Graph): Map<string, string[]> {
  const out = new Map<string, string[]>([...graph.keys()].map(id => [id, []]))
  for (const [id, deps] of graph) for (const dep of deps) out.get(dep)?.push(id)
  return out
}

/**
 * Everything downstream of `root`, nearest first, each with the chain of jobs between
 * root and it (`via`, empty for a direct dependent): the cause a cancelled job reports.
 */
export function downstreamOf (graph: Graph, root: string): Array<{ id: string, via: string[] }> {
  const dependents = dependentsOf(graph)
  const out: Array<{ id: string, via: string[] }> = []
  const reached = new Set<string>([root])
  let frontier: Array<{ id: string, via: string[] }> = [{ id: root, via: [] }]
  while (frontier.length > 0) {
    const next: Array<{ id: string, via: string[] }> = []
    for (const { id, via } of frontier) {
      for (const child of dependents.get(id) ?? []) {
        if (reached.has(child)) continue
        reached.add(child)
        const entry = { id: child, via: id === root ? [] : [...via, id] }
        out.push(entry)
        next.push(entry)
      }
    }
    frontier = next
  }
  return out
}
