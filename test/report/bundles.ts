import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
// @ts-expect-error plain JS script without types; the banner is the one dist/ gets, not a copy of it
import { BANNER } from '../../scripts/bundle.mjs'
import { repoRoot } from '../support/bundle.js'

function newestSource(dir = join(repoRoot, 'src')): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs)
  }
  return newest
}

/**
 * The bundled entry point to run: dist/<entry>/index.js when it is newer than every source file (`npm test`
 * bundles first), else a fresh bundle in a temp directory, so `vitest run test/report` never tests stale
 * code and never rewrites dist/.
 */
export async function currentBundle(entry: 'main' | 'post'): Promise<string> {
  const dist = join(repoRoot, 'dist', entry, 'index.js')
  const newest = newestSource()
  if (existsSync(dist) && statSync(dist).mtimeMs >= newest) return dist
  // One temp bundle per state of src/, shared by the test files of a run.
  const cached = join(tmpdir(), `kk-${entry}-bundle-${Math.floor(newest)}`, 'index.js')
  if (existsSync(cached)) return cached
  const out = mkdtempSync(join(tmpdir(), `kk-${entry}-bundle-`))
  // Asynchronously: a blocked worker misses vitest's own heartbeats during a long build.
  await promisify(execFile)(join(repoRoot, 'node_modules/.bin/ncc'), ['build', `src/${entry}.ts`, '-o', out, '--quiet', '--transpile-only', '--target', 'es2022'], {
    cwd: repoRoot,
  })
  const file = join(out, 'index.js')
  writeFileSync(file, `${BANNER}\n${readFileSync(file, 'utf8')}`)
  rmSync(join(cached, '..'), { recursive: true, force: true })
  renameSync(out, join(cached, '..'))
  return cached
}
