import { copyFile, mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import * as cache from '@actions/cache'
import type { Logger } from '../log.js'
import { artifactLabel } from './download.js'
import type { PlannedArtifact } from './types.js'
import { ChecksumMismatchError, moveVerified } from './verified-file.js'

/**
 * The GitHub Actions cache, one entry per artifact, so matrix jobs share what they have in common
 * (every Kubernetes version of a matrix needs the same containerd, runc and crictl).
 *
 * WHEN WE SAVE: at once, right after a download has been verified, not in the post step.
 * - A deploy that fails or is cancelled still leaves its downloads in the cache, and a failed deploy
 *   is exactly when someone reruns the job.
 * - Matrix jobs that start a little later in the same run can already hit what an earlier job saved.
 * - A post step would have to carry the list of files over GITHUB_STATE and find them still on
 *   disk after the deploy and the cleanup; saving now needs neither.
 * The price: resolution waits for the uploads, only on a miss, and they run beside the remaining
 * downloads (see Layers.saves in resolve.ts).
 *
 * FAILURES: the service being absent, refusing, failing, rate-limiting or answering ok:false never
 * fails resolution. restoreCache swallows service errors itself (it logs them and returns
 * undefined, like a miss); what it or saveCache throws becomes a warning here. The library retries a
 * 5xx for ~31 s per call, so a lookup (or save) that took that long and failed switches this layer
 * off for the rest of the run, with one warning, instead of paying it again for every artifact.
 * The library also prints its own lines for these failures (core.warning, and core.error for a 5xx:
 * an error annotation, though not a failed step); we cannot silence them.
 *
 * PATHS: the library derives the entry's `version` from the path strings it is given and stores
 * paths relative to GITHUB_WORKSPACE, so `stagingDir` must be the same in every job that should
 * share entries (the resolver uses `<workDir>/actions-cache`, with workDir under RUNNER_TEMP).
 */
export interface ActionsCacheLayer {
  restore(artifact: PlannedArtifact, target: string): Promise<number | undefined>
  save(artifact: PlannedArtifact, file: string): Promise<void>
}

export interface ActionsCacheOptions {
  stagingDir: string
  log: Logger
  /** A missed lookup slower than this means the service is failing: stop using it. */
  slowLookupMs?: number
}

export function actionsCacheKey(artifact: Pick<PlannedArtifact, 'name' | 'version' | 'arch' | 'sha256'>): string {
  return `kk-${artifact.name}-${artifact.version}-${artifact.arch}-${artifact.sha256.slice(0, 12).toLowerCase()}`
}

/** The layer, or undefined when this is not a job with a cache service (e.g. the CLI). */
export function actionsCacheLayer(options: ActionsCacheOptions): ActionsCacheLayer | undefined {
  if (!cache.isFeatureAvailable()) return undefined
  const slowLookupMs = options.slowLookupMs ?? 20_000
  const { log } = options
  let switchedOff = false

  const stagedFile = (artifact: PlannedArtifact) => join(options.stagingDir, actionsCacheKey(artifact), artifact.file)

  return {
    async restore(artifact, target) {
      if (switchedOff) return undefined
      const key = actionsCacheKey(artifact)
      const staged = stagedFile(artifact)
      await rm(join(options.stagingDir, key), { recursive: true, force: true })
      const started = Date.now()
      let hit: string | undefined
      try {
        hit = await cache.restoreCache([staged], key)
      } catch (error) {
        log.warning(`${artifactLabel(artifact)}: the Actions cache failed (${(error as Error).message}); downloading instead`)
        return undefined
      }
      if (!hit) {
        const elapsed = Date.now() - started
        if (elapsed > slowLookupMs && !switchedOff) {
          switchedOff = true
          log.warning(`the Actions cache took ${(elapsed / 1000).toFixed(0)} s to answer a lookup and had nothing; not using it for the rest of this run`)
        }
        return undefined
      }
      try {
        return await moveVerified(staged, target, artifact.sha256)
      } catch (error) {
        const why = error instanceof ChecksumMismatchError ? `holds another file (sha256 ${error.actual})` : `could not be read (${(error as Error).message})`
        log.warning(`${artifactLabel(artifact)}: the Actions cache entry ${key} ${why}; downloading instead`)
        return undefined
      } finally {
        await rm(join(options.stagingDir, key), { recursive: true, force: true })
      }
    },

    async save(artifact, file) {
      if (switchedOff) return
      const key = actionsCacheKey(artifact)
      const staged = stagedFile(artifact)
      try {
        await mkdir(join(options.stagingDir, key), { recursive: true })
        await copyFile(file, staged)
        const started = Date.now()
        // -1 means not saved; the library has said why (e.g. another job saved this key first, which
        // is normal in a matrix), so nothing is added here unless it was slow.
        const id = await cache.saveCache([staged], key)
        const elapsed = Date.now() - started
        if (id === -1 && elapsed > slowLookupMs && !switchedOff) {
          switchedOff = true
          log.warning(`the Actions cache took ${(elapsed / 1000).toFixed(0)} s to refuse a save; not using it for the rest of this run`)
        }
      } catch (error) {
        log.warning(`${artifactLabel(artifact)}: could not save to the Actions cache: ${(error as Error).message}`)
      } finally {
        await rm(join(options.stagingDir, key), { recursive: true, force: true })
      }
    },
  }
}
