import { describe, expect, it } from 'vitest'
import { siblingModule } from '../../src/util/module-url.ts'

describe('siblingModule', () => {
  it('keeps .ts next to a source module and names the .js next to a built one', () => {
    expect(siblingModule('./verify-worker.ts', 'file:///repo/src/reputation/verify-pool.ts').href).toBe('file:///repo/src/reputation/verify-worker.ts')
    expect(siblingModule('./verify-worker.ts', 'file:///app/node_modules/specmesh/dist/reputation/verify-pool.js').href).toBe('file:///app/node_modules/specmesh/dist/reputation/verify-worker.js')
  })
})
