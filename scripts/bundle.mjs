#!/usr/bin/env node
// Bundles the three entry points with ncc into dist/<entry>/index.js (ESM, runs on Node 20 and 24).
// ncc emits ESM for our "type": "module" package, but some dependencies (ssh2's wasm loader) still
// read __dirname/require; the banner defines them from import.meta.url.
import { execFileSync } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const ENTRIES = { main: 'src/main.ts', post: 'src/post.ts', cli: 'src/cli.ts' }
const BANNER = [
  "import { createRequire as __kkCreateRequire } from 'node:module';",
  "import { fileURLToPath as __kkFileURLToPath } from 'node:url';",
  "import { dirname as __kkDirname } from 'node:path';",
  'const __filename = __kkFileURLToPath(import.meta.url);',
  'const __dirname = __kkDirname(__filename);',
  'const require = __kkCreateRequire(import.meta.url);',
].join(' ')

const only = process.argv.slice(2)
for (const [name, entry] of Object.entries(ENTRIES)) {
  if (only.length && !only.includes(name)) continue
  const out = join(root, 'dist', name)
  rmSync(out, { recursive: true, force: true })
  execFileSync(join(root, 'node_modules/.bin/ncc'), ['build', entry, '-o', out, '--quiet', '--transpile-only', '--target', 'es2022'], {
    cwd: root, stdio: 'inherit',
  })
  const file = join(out, 'index.js')
  const code = readFileSync(file, 'utf8')
  writeFileSync(file, `${name === 'cli' ? '#!/usr/bin/env node\n' : ''}${BANNER}\n${code}`, { mode: 0o755 })
}
