import { writeFileSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { UserError, isUserError } from '../errors.js'
import type { Logger } from '../log.js'
import { actionsCacheLayer, type ActionsCacheLayer } from './actions-cache.js'
import { artifactLabel, downloadArtifact, type DownloadSourceKind } from './download.js'
import { DEFAULT_DOWNLOAD_TUNING, mebibytes, type DownloadTuning } from './http-download.js'
import { mapWithLimit } from './limit.js'
import { restoreFromToolCache, saveToToolCache, toolCacheAvailable } from './tool-cache.js'
import { artifactKey, type PlannedArtifact } from './types.js'
import { joinSegments, pathInside, sha256OfFile } from './verified-file.js'

/** `local`: a verified file already at the destination from an earlier run (only with `reuseExisting`). */
export type ArtifactSource = 'local' | 'tool-cache' | 'actions-cache' | DownloadSourceKind

export interface ResolvedArtifact {
  artifact: PlannedArtifact
  /** The verified file. */
  path: string
  source: ArtifactSource
  bytes: number
  ms: number
}

export interface ResolveOptions {
  /** Files land in `<dest>/<name>/<version>/<arch>/<file>`. */
  dest: string
  /**
   * Scratch space; the Actions cache layer stages entries in `<workDir>/actions-cache`, whose path is
   * part of every cache entry's identity, so keep it the same across jobs (e.g. `$RUNNER_TEMP/kk-action`).
   * Default: `<dest>/.work`.
   */
  workDir?: string
  mirror?: string
  offlineDir?: string
  /** Use the runner's tool cache and the Actions cache (both only exist inside a GitHub job). */
  useCache: boolean
  /** Artifacts resolved at the same time (default 4). */
  concurrency?: number
  log: Logger
  /** A cancelled run: nothing new starts and running downloads stop. */
  signal?: AbortSignal
  /** Retries, backoff and timeouts of downloads; tests shorten them. */
  tuning?: Partial<DownloadTuning>
  /** See ActionsCacheOptions.slowLookupMs. */
  slowCacheLookupMs?: number
  /**
   * Keep a file already at its destination when its sum matches (source `local`). Off by default:
   * a job's destination is new anyway; the CLI, whose destination persists, saves a download per rerun.
   */
  reuseExisting?: boolean
}

/**
 * Puts every planned artifact, verified, under `dest`, taking each from the first layer that has it:
 * the runner's tool cache, the Actions cache, then a download (offline-dir, mirror, upstream).
 * Identical artifacts (same name, version, arch) are resolved once; results keep the input order.
 * Cache problems are warnings; an artifact that cannot be had is a UserError (after all others finished).
 */
export async function resolveArtifacts(artifacts: PlannedArtifact[], options: ResolveOptions): Promise<ResolvedArtifact[]> {
  return resolveInto(artifacts, options, {
    targetFor: (artifact) => {
      // Versions can come from the user's config: never let one climb out of `dest`.
      const target = joinSegments(options.dest, [artifact.name, artifact.version, artifact.arch, artifact.file])
      if (!target) throw new UserError(`${artifactLabel(artifact)}: "${artifact.version}" / "${artifact.file}" cannot be used in a path`, { field: `artifacts.${artifact.name}` })
      return target
    },
    existingSource: options.reuseExisting ? 'local' : undefined,
  })
}

/** What differs between resolving for a deploy and writing an offline bundle. */
interface Layout {
  targetFor(artifact: PlannedArtifact): string
  /** When set, a verified file already at the target counts, as this source. */
  existingSource?: ArtifactSource
}

async function resolveInto(artifacts: PlannedArtifact[], options: ResolveOptions, layout: Layout): Promise<ResolvedArtifact[]> {
  const unique = uniqueArtifacts(artifacts)
  const tuning = { ...DEFAULT_DOWNLOAD_TUNING, ...options.tuning }
  const layers: Layers = {
    saves: [],
    toolCache: options.useCache && toolCacheAvailable(),
    actionsCache: options.useCache
      ? actionsCacheLayer({ stagingDir: join(options.workDir ?? join(options.dest, '.work'), 'actions-cache'), log: options.log, slowLookupMs: options.slowCacheLookupMs })
      : undefined,
  }
  const settled = await mapWithLimit([...unique.values()], options.concurrency ?? 4, async (artifact) => {
    try {
      options.signal?.throwIfAborted()
      return { ok: true as const, result: await resolveOne(artifact, layout.targetFor(artifact), layout, layers, tuning, options) }
    } catch (error) {
      return { ok: false as const, error }
    }
  })
  // A cancelled run does not wait for cache uploads (the process ends with the job anyway).
  if (!options.signal?.aborted) await Promise.all(layers.saves)
  const failures = settled.flatMap((outcome) => (outcome.ok ? [] : [outcome.error]))
  if (failures.length > 0) throw combinedError(failures)
  const byKey = new Map(settled.flatMap((outcome) => (outcome.ok ? [[artifactKey(outcome.result.artifact), outcome.result] as const] : [])))
  return artifacts.map((artifact) => ({ ...byKey.get(artifactKey(artifact))!, artifact }))
}

/** The action's `cache-hit` output: every artifact came from the tool cache or the Actions cache. */
export function allFromCache(results: ResolvedArtifact[]): boolean {
  return results.length > 0 && results.every((result) => result.source === 'tool-cache' || result.source === 'actions-cache')
}

function uniqueArtifacts(artifacts: PlannedArtifact[]): Map<string, PlannedArtifact> {
  const unique = new Map<string, PlannedArtifact>()
  for (const artifact of artifacts) {
    const key = artifactKey(artifact)
    const seen = unique.get(key)
    if (seen && seen.sha256 !== artifact.sha256) {
      throw new Error(`bug: the plan has ${key} twice with different sums (${seen.sha256}, ${artifact.sha256})`)
    }
    if (!seen) unique.set(key, artifact)
  }
  return unique
}

interface Layers {
  /**
   * Cache saves run beside the remaining downloads instead of holding a download slot (an Actions
   * cache save is a tar, a zstd and an upload); resolution waits for them before it returns.
   * They never reject: a failed save is a warning.
   */
  saves: Promise<void>[]
  toolCache: boolean
  actionsCache: ActionsCacheLayer | undefined
}

async function resolveOne(
  artifact: PlannedArtifact, target: string, layout: Layout, layers: Layers, tuning: DownloadTuning, options: ResolveOptions,
): Promise<ResolvedArtifact> {
  const started = Date.now()
  const done = (source: ArtifactSource, bytes: number): ResolvedArtifact => {
    const result = { artifact, path: target, source, bytes, ms: Date.now() - started }
    options.log.info(`${artifactLabel(artifact)}: ${source}, ${mebibytes(bytes)} in ${(result.ms / 1000).toFixed(1)} s`)
    return result
  }

  if (layout.existingSource) {
    const bytes = await existingVerified(target, artifact)
    if (bytes !== undefined) return done(layout.existingSource, bytes)
  }
  if (layers.toolCache) {
    const bytes = await restoreFromToolCache(artifact, target, options.log)
    if (bytes !== undefined) return done('tool-cache', bytes)
  }
  if (layers.actionsCache) {
    const bytes = await layers.actionsCache.restore(artifact, target)
    if (bytes !== undefined) {
      if (layers.toolCache) await saveToToolCache(artifact, target, options.log)
      return done('actions-cache', bytes)
    }
  }
  const { source, bytes } = await downloadArtifact(artifact, target,
    { mirror: options.mirror, offlineDir: options.offlineDir, tuning, log: options.log, signal: options.signal })
  layers.saves.push(saveToCaches(artifact, target, layers, options.log))
  return done(source, bytes)
}

async function saveToCaches(artifact: PlannedArtifact, file: string, layers: Layers, log: Logger): Promise<void> {
  if (layers.toolCache) await saveToToolCache(artifact, file, log)
  if (layers.actionsCache) await layers.actionsCache.save(artifact, file)
}

async function existingVerified(target: string, artifact: PlannedArtifact): Promise<number | undefined> {
  try {
    const { size } = await stat(target)
    return (await sha256OfFile(target)) === artifact.sha256.toLowerCase() ? size : undefined
  } catch {
    return undefined
  }
}

function combinedError(failures: unknown[]): Error {
  const userErrors = failures.filter(isUserError)
  if (userErrors.length !== failures.length) return failures.find((failure) => !isUserError(failure)) as Error
  if (userErrors.length === 1) return userErrors[0]
  return new UserError(`${userErrors.length} artifacts could not be resolved: ${userErrors.map((error) => error.message).join(' | ')}`)
}

/**
 * Writes the artifacts into `destDir` in the offline-dir layout (`destDir` + URL path), for
 * `kk-action fetch`: the bundle an air-gapped runner then uses as its `offline-dir`. Files already
 * there with the right sum are kept, so a rerun after a failure only fetches what is missing.
 */
export async function fetchBundle(artifacts: PlannedArtifact[], destDir: string, options: Omit<ResolveOptions, 'dest'>): Promise<ResolvedArtifact[]> {
  return resolveInto(artifacts, { ...options, dest: destDir }, {
    targetFor: (artifact) => {
      const target = pathInside(destDir, artifact.path)
      if (!target) throw new UserError(`the URL path ${artifact.path} of ${artifactLabel(artifact)} leaves the bundle directory`, { field: 'dest' })
      return target
    },
    // The bundle directory is an offline-dir: what is already in it, verified, is used as such.
    existingSource: 'offline-dir',
  })
}

/**
 * The sums of a bundle's artifacts that the catalog does not carry (chart digests from publishers' indexes,
 * dl.k8s.io's .sha256, a checksums file), as `<dest>/checksums.json` in the checksums-file shape, so an
 * air-gapped runner that cannot read them verifies the same bytes. Written always (empty when the catalog
 * knows every sum), so the documented `checksums: <bundle>/checksums.json` always works. Returns its path.
 */
export function writeBundleChecksums(artifacts: PlannedArtifact[], destDir: string): string {
  const outside = artifacts.filter((artifact) => artifact.sha256Source !== 'catalog')
  const document: { artifacts: Record<string, { url?: string; versions: Record<string, Record<string, string>> }> } = { artifacts: {} }
  for (const { name, version, arch, sha256, url, sha256Source } of outside) {
    const entry = (document.artifacts[name] ??= { versions: {} })
    entry.versions[version] = { ...entry.versions[version], [arch]: sha256 }
    // A chart's index may name a URL of its own: the air-gapped plan must look where fetch put the file.
    if (sha256Source === 'chart-index') entry.url = url
  }
  const file = join(destDir, 'checksums.json')
  writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`)
  return file
}
