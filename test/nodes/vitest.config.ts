import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

/** The node tests alone, without the repo-wide global setup: `npx vitest run -c test/nodes/vitest.config.ts`. */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/nodes/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
})
