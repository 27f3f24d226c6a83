/**
 * The local apt repository the runner-image test-node profile uses as apt's only source (testnodes.ts,
 * RunnerImageProfile): the .debs of the packages the runner image lacks, from apt's cache or downloaded from
 * Debian, with a Packages index made by dpkg-scanpackages (dpkg-dev).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DEFAULT_OUT_DIR } from '../fixtures/build-mirror.js'
import { RUNNER_IMAGE_MISSING } from './testnodes.js'

export function buildRunnerAptRepo(dir = join(DEFAULT_OUT_DIR, '..', 'apt-runner-image')): string {
  mkdirSync(dir, { recursive: true })
  const cache = '/var/cache/apt/archives'
  for (const name of RUNNER_IMAGE_MISSING) {
    if (readdirSync(dir).some((file) => file.startsWith(`${name}_`))) continue
    const cached = existsSync(cache) ? readdirSync(cache).find((file) => file.startsWith(`${name}_`) && file.endsWith('.deb')) : undefined
    if (cached) execFileSync('cp', [join(cache, cached), dir])
    else execFileSync('apt-get', ['download', name], { cwd: dir, stdio: 'ignore' })
  }
  writeFileSync(join(dir, 'Packages'), execFileSync('dpkg-scanpackages', ['.', '/dev/null'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] }))
  return dir
}
