#!/usr/bin/env node
// `npm run bench` (package.json: "bench": "node bench/run.mjs"): runs bench/run.ts under vite-node, which
// loads the TypeScript sources and test fixtures directly. Arguments are passed on:
//   npm run bench -- --nodes 3 --skip artifacts
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const result = spawnSync(join(root, 'node_modules/.bin/vite-node'), [join('bench', 'run.ts'), ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' })
process.exit(result.status ?? 1)
