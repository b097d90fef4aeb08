import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Multi-node tests start real libp2p nodes and child processes: give them
    // room, but every wait inside a test has its own, shorter deadline.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Two cores: more workers than that only makes timing-sensitive network tests flaky.
    maxWorkers: 2,
    reporters: ['default']
  }
})
