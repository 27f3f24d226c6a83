import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../support/bundle.js'

/** The same preamble scripts/bundle.mjs puts before every bundle (ncc's ESM output lacks __dirname and require). */
const BANNER = [
  "import { createRequire as __kkCreateRequire } from 'node:module';",
  "import { fileURLToPath as __kkFileURLToPath } from 'node:url';",
  "import { dirname as __kkDirname } from 'node:path';",
  'const __filename = __kkFileURLToPath(import.meta.url);',
  'const __dirname = __kkDirname(__filename);',
  'const require = __kkCreateRequire(import.meta.url);',
].join(' ')

function newestSource(dir = join(repoRoot, 'src')): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs)
  }
  return newest
}

/**
 * The bundled post step to run: dist/post/index.js when it is newer than every source file (`npm test`
 * bundles first), else a fresh bundle in a temp directory, so `vitest run test/report` never tests stale
 * code and never rewrites dist/.
 */
export function currentPostBundle(): string {
  const dist = join(repoRoot, 'dist/post/index.js')
  if (existsSync(dist) && statSync(dist).mtimeMs >= newestSource()) return dist
  const out = mkdtempSync(join(tmpdir(), 'kk-post-bundle-'))
  execFileSync(join(repoRoot, 'node_modules/.bin/ncc'), ['build', 'src/post.ts', '-o', out, '--quiet', '--transpile-only', '--target', 'es2022'], {
    cwd: repoRoot, stdio: 'pipe',
  })
  const file = join(out, 'index.js')
  writeFileSync(file, `${BANNER}\n${readFileSync(file, 'utf8')}`)
  return file
}
