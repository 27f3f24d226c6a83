import { join } from 'node:path'
import * as toolCache from '@actions/tool-cache'
import type { Logger } from '../log.js'
import { artifactLabel } from './download.js'
import type { PlannedArtifact } from './types.js'
import { ChecksumMismatchError, copyVerified } from './verified-file.js'

/**
 * The runner's tool cache (RUNNER_TOOL_CACHE), under `kk-<name>/<version>/<arch>/<file>`. The `kk-`
 * prefix keeps us out of other actions' entries: setup-helm also caches a `helm` (the unpacked
 * binary, not our .tgz), and cacheFile deletes the whole version folder before it writes.
 * On GitHub-hosted runners the tool cache lives as long as the job; on self-hosted runners it
 * persists, and that is where this layer pays.
 */
export function toolCacheAvailable(): boolean {
  return Boolean(process.env.RUNNER_TOOL_CACHE)
}

export function toolName(artifact: PlannedArtifact): string {
  return `kk-${artifact.name}`
}

/**
 * Copies the cached file onto `target` if the tool cache has it with the right sum. A file with
 * another sum (a checksums file changed what this version means) is a miss, not an error.
 */
export async function restoreFromToolCache(artifact: PlannedArtifact, target: string, log: Logger): Promise<number | undefined> {
  // find() only takes exact semver versions literally; anything else it would treat as a range.
  if (!toolCache.isExplicitVersion(artifact.version)) return undefined
  const folder = toolCache.find(toolName(artifact), artifact.version, artifact.arch)
  if (!folder) return undefined
  try {
    return await copyVerified(join(folder, artifact.file), target, artifact.sha256)
  } catch (error) {
    if (error instanceof ChecksumMismatchError) {
      log.info(`${artifactLabel(artifact)}: the tool cache holds another build (sha256 ${error.actual}); not using it`)
    } else if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      log.warning(`${artifactLabel(artifact)}: could not read the tool cache: ${(error as Error).message}`)
    }
    return undefined
  }
}

/** Best effort: a tool cache that cannot be written costs a warning. */
export async function saveToToolCache(artifact: PlannedArtifact, file: string, log: Logger): Promise<void> {
  if (!toolCache.isExplicitVersion(artifact.version)) return
  try {
    await toolCache.cacheFile(file, artifact.file, toolName(artifact), artifact.version, artifact.arch)
  } catch (error) {
    log.warning(`${artifactLabel(artifact)}: could not save to the tool cache: ${(error as Error).message}`)
  }
}
