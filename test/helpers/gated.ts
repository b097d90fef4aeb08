/** The output every entity-extraction test spec accepts (its success criterion: confidence ≥ 75). */
export const goodOutput = { entities: [{ name: 'Ada', confidence: 90 }] }

/** A handler that holds every execution until `release()`, counting how many run at once. */
export function gatedHandler (output: unknown = goodOutput) {
  let open!: () => void
  const gate = new Promise<void>(resolve => { open = resolve })
  const state = { running: 0, peak: 0, started: 0 }
  const handler = async () => {
    state.running++
    state.started++
    state.peak = Math.max(state.peak, state.running)
    await gate
    state.running--
    return output
  }
  return { handler, state, release: () => { open() } }
}
