import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defineConfig } from 'vitest/config'

/**
 * The suite starts hundreds of Node processes (every CLI command, daemon, agent and bench
 * node), and each used to compile libp2p's few thousand modules afresh: about 1.5 s of CPU
 * before the first line of specmesh runs, on two cores shared by two test files. Node's
 * compile cache (NODE_COMPILE_CACHE, keyed by each file's content, so an edit is never
 * served stale) halves that. Set here, before the workers start, it reaches the workers'
 * own imports and, inherited, every process a test spawns. A value from the shell wins.
 */
process.env.NODE_COMPILE_CACHE ??= join(tmpdir(), 'specmesh-node-compile-cache')

/**
 * Tests whose assertion is a ratio against a baseline measured in the same run
 * (the flood test's "honest p99 under attack ≤ 2× without") are only honest when
 * nothing else competes for the two cores between the baseline and the attack.
 * In one parallel pool, another file's six node processes can start in the middle
 * of the flood phase and fail the ratio (CI did: ×2.04 while bench-jobs ran).
 * So they run in a later group, one file at a time, after the rest of the suite,
 * with the benches' tiny runs (many processes each) that would be the competition.
 */
const RUN_ALONE = [
  'test/integration/flood.test.ts',
  // Six and five node processes each: with another file's nodes beside them on two cores,
  // bench-scale's per-spec mesh once took over 70 s to form and the test was killed.
  'test/e2e/bench-scale.test.ts',
  'test/e2e/bench-jobs.test.ts'
]

const UNIT = 'test/unit/**/*.test.ts'
/**
 * Unit files that need a module graph of their own: they pick the Ed25519 backend
 * (SPECMESH_ED25519, read once when src/crypto/ed25519.ts loads) and leave the variable set,
 * which in a shared worker reads the backend another file loaded and leaks into the next.
 */
const UNIT_ISOLATED = ['test/unit/protocols/vectors-node-crypto.test.ts', 'test/unit/crypto/ed25519.test.ts']

export default defineConfig({
  test: {
    // Multi-node tests start real libp2p nodes and child processes: give them
    // room, but every wait inside a test has its own, shorter deadline.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Two cores: more workers than that only makes timing-sensitive network tests flaky.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: [...RUN_ALONE, UNIT], sequence: { groupOrder: 0 } }
      },
      {
        extends: true,
        test: { name: 'unit-isolated', include: UNIT_ISOLATED, sequence: { groupOrder: 0 } }
      },
      {
        // Unit tests start no node, leave no process or timer behind (exec-handler cleans up after each), stub nothing
        // global: one worker can run file after file without a fresh module graph for each,
        // which took longer than most of them (51 files: 29 s alone, 14 s this way).
        extends: true,
        test: { name: 'unit', include: [UNIT], exclude: UNIT_ISOLATED, isolate: false, sequence: { groupOrder: 0 } }
      },
      {
        extends: true,
        test: { name: 'alone', include: RUN_ALONE, fileParallelism: false, sequence: { groupOrder: 1 } }
      }
    ]
  }
})
