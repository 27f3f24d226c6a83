import { stat } from 'node:fs/promises'
import { UserError } from '../errors.js'
import type { Logger } from '../log.js'
import { downloadWithRetries, type DownloadTuning } from './http-download.js'
import type { PlannedArtifact } from './types.js'
import { ChecksumMismatchError, copyVerified, pathInside } from './verified-file.js'

export type DownloadSourceKind = 'offline-dir' | 'mirror' | 'upstream'

export interface DownloadSource {
  kind: DownloadSourceKind
  /** A URL, or a file path for `offline-dir`. */
  location: string
}

export interface DownloadOptions {
  /** Base URL that keeps the upstream path (KubeKey's KKZONE=cn idea), e.g. https://mirror.example/kubekey. */
  mirror?: string
  /** A directory laid out by URL path, as `kk-action fetch` writes it. */
  offlineDir?: string
  tuning: DownloadTuning
  log: Logger
  signal?: AbortSignal
}

export function artifactLabel(artifact: Pick<PlannedArtifact, 'name' | 'version' | 'arch'>): string {
  return `${artifact.name} ${artifact.version} ${artifact.arch}`
}

/** offline-dir, then mirror + URL path, then upstream: the order they are tried in. */
export function downloadSources(artifact: PlannedArtifact, options: Pick<DownloadOptions, 'mirror' | 'offlineDir'>): DownloadSource[] {
  const sources: DownloadSource[] = []
  if (options.offlineDir) {
    const file = pathInside(options.offlineDir, artifact.path)
    if (!file) throw new UserError(`the URL path ${artifact.path} of ${artifactLabel(artifact)} leaves the offline-dir`, { field: 'offline-dir' })
    sources.push({ kind: 'offline-dir', location: file })
  }
  if (options.mirror) sources.push({ kind: 'mirror', location: `${options.mirror.replace(/\/+$/, '')}${artifact.path}` })
  sources.push({ kind: 'upstream', location: artifact.url })
  return sources
}

/**
 * Puts the artifact's verified bytes at `target` from the first source that has them. Transient
 * failures are retried per URL (see downloadWithRetries); a wrong sum is retried once, from the next
 * source (or the same one when it is the last), and a second wrong sum is a UserError that names the
 * URL and both sums.
 */
export async function downloadArtifact(artifact: PlannedArtifact, target: string, options: DownloadOptions): Promise<{ source: DownloadSourceKind; bytes: number }> {
  const sources = downloadSources(artifact, options)
  const failures: string[] = []
  let mismatches = 0
  for (let index = 0; index < sources.length; index++) {
    const source = sources[index]
    try {
      const bytes = await fetchFrom(source, artifact, target, options)
      if (bytes === undefined) continue
      return { source: source.kind, bytes }
    } catch (error) {
      if (options.signal?.aborted) throw error
      if (!(error instanceof ChecksumMismatchError)) {
        failures.push(`${source.location}: ${(error as Error).message}`)
        options.log.info(`${artifactLabel(artifact)}: ${source.kind} failed (${(error as Error).message})${index + 1 < sources.length ? '; trying the next source' : ''}`)
        continue
      }
      mismatches++
      if (mismatches >= 2) throw checksumUserError(artifact, error)
      options.log.warning(`${artifactLabel(artifact)}: ${error.message}; discarded, trying ${index + 1 < sources.length ? 'the next source' : 'once more'}`)
      if (index + 1 === sources.length) index--
    }
  }
  throw new UserError(
    `could not download ${artifactLabel(artifact)}: ${failures.join('; ') || 'no source had it'}`,
    {},
    options.mirror || options.offlineDir ? 'Check the mirror / offline-dir, or the network to upstream' : 'Check the network, or set a `mirror` or an `offline-dir`',
  )
}

/** The bytes written, or undefined when the source does not have the file (an offline-dir without it). */
async function fetchFrom(source: DownloadSource, artifact: PlannedArtifact, target: string, options: DownloadOptions): Promise<number | undefined> {
  if (source.kind === 'offline-dir') {
    if (!(await isFile(source.location))) {
      options.log.info(`${artifactLabel(artifact)}: not in the offline-dir (${source.location})`)
      return undefined
    }
    return copyVerified(source.location, target, artifact.sha256)
  }
  return downloadWithRetries({ url: source.location, target, sha256: artifact.sha256, label: artifactLabel(artifact), signal: options.signal },
    options.tuning, options.log)
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

function checksumUserError(artifact: PlannedArtifact, error: ChecksumMismatchError): UserError {
  const whose = artifact.sha256Source === 'checksums-file' ? 'your checksums file' : artifact.sha256Source === 'upstream' ? 'the published .sha256'
    : artifact.sha256Source === 'chart-index' ? "the chart repository's index.yaml" : 'the catalog'
  return new UserError(
    `sha256 mismatch for ${artifactLabel(artifact)}: ${error.from} gave ${error.actual}, expected ${error.expected} (from ${whose})`,
    { field: `artifacts.${artifact.name}` },
    'The file was not kept. If the mirror or offline-dir serves another build on purpose, put its sum in a checksums file',
  )
}

