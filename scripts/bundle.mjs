#!/usr/bin/env node
// Bundles the three entry points with ncc into dist/<entry>/index.js (ESM, runs on Node 20 and 24).
// ncc emits ESM for our "type": "module" package, but some dependencies (ssh2's wasm loader) still
// read __dirname/require; the banner defines them from import.meta.url.
//   node scripts/bundle.mjs [main|post|cli ...] [--if-stale]
// --if-stale: only when a file under src/ (or the lock file) is newer than the bundle (test runs use it).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const ENTRIES = { main: 'src/main.ts', post: 'src/post.ts', cli: 'src/cli.ts' }
/** Put before every bundle; test/report/bundles.ts imports it for its own temporary bundles. */
export const BANNER = [
  "import { createRequire as __kkCreateRequire } from 'node:module';",
  "import { fileURLToPath as __kkFileURLToPath } from 'node:url';",
  "import { dirname as __kkDirname } from 'node:path';",
  'const __filename = __kkFileURLToPath(import.meta.url);',
  'const __dirname = __kkDirname(__filename);',
  'const require = __kkCreateRequire(import.meta.url);',
].join(' ')

function newestSource(dir = join(root, 'src')) {
  let newest = statSync(join(root, 'package-lock.json')).mtimeMs
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs)
  }
  return newest
}

function isStale(name) {
  const file = join(root, 'dist', name, 'index.js')
  return !existsSync(file) || statSync(file).mtimeMs < newestSource()
}

// Run as a script (not when imported for BANNER).
if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  const args = process.argv.slice(2)
  const ifStale = args.includes('--if-stale')
  const only = args.filter((a) => !a.startsWith('--'))
  for (const [name, entry] of Object.entries(ENTRIES)) {
    if (only.length && !only.includes(name)) continue
    if (ifStale && !isStale(name)) continue
    // Build beside the target and swap it in whole, so a concurrent reader never sees a half-written bundle.
    const staging = mkdtempSync(join(root, 'dist', `.${name}-`))
    execFileSync(join(root, 'node_modules/.bin/ncc'), ['build', entry, '-o', staging, '--quiet', '--transpile-only', '--target', 'es2022'], {
      cwd: root, stdio: 'inherit',
    })
    const file = join(staging, 'index.js')
    writeFileSync(file, `${name === 'cli' ? '#!/usr/bin/env node\n' : ''}${BANNER}\n${readFileSync(file, 'utf8')}`, { mode: 0o755 })
    const out = join(root, 'dist', name)
    const old = `${staging}.old`
    if (existsSync(out)) renameSync(out, old)
    renameSync(staging, out)
    rmSync(old, { recursive: true, force: true })
  }
}
