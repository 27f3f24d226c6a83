import { parse } from 'yaml'
import type { ChartIndex } from './types.js'

/**
 * dl.k8s.io publishes `<file>.sha256` next to every Kubernetes binary. For a version the catalog lacks,
 * the plan reads it: from upstream, so the sum does not come from where the file does, and from the mirror's
 * copy (same path) only when upstream cannot be read.
 */
export function publishedSha256Reader(options: { mirror?: string; timeoutMs?: number } = {}) {
  return async (artifact: { url: string }): Promise<string | undefined> => {
    for (const url of upstreamThenMirror(`${artifact.url}.sha256`, options.mirror)) {
      const sum = await readSum(url, options.timeoutMs ?? 10_000)
      if (sum) return sum
    }
    return undefined
  }
}

/** Where a published sum is read: upstream, then the mirror's copy at the same path. */
function upstreamThenMirror(url: string, mirror: string | undefined): string[] {
  return [url, ...(mirror ? [`${mirror.replace(/\/+$/, '')}${new URL(url).pathname}`] : [])]
}

async function readSum(url: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' })
    if (!response.ok) return undefined
    const text = (await response.text()).slice(0, 4096).trim()
    const match = /^([0-9a-f]{64})(\s|$)/i.exec(text)
    return match?.[1].toLowerCase()
  } catch {
    return undefined
  }
}

/**
 * Chart publishers list every chart version in their repository's `index.yaml`, with the packaged chart's
 * sha256 as `digest`. For a chart version the catalog lacks, the plan reads it there: upstream first, the
 * mirror's copy (the index's upstream path) only when upstream cannot be read. One read per index per plan.
 */
export function chartDigestReader(options: { mirror?: string; timeoutMs?: number } = {}) {
  const indexes = new Map<string, Promise<unknown>>()
  const readIndex = (url: string) => {
    if (!indexes.has(url)) indexes.set(url, readYaml(url, options.timeoutMs ?? 30_000))
    return indexes.get(url)!
  }
  return async (index: ChartIndex, version: string): Promise<ChartDigest> => {
    let reached = false
    for (const url of upstreamThenMirror(index.url, options.mirror)) {
      const read = await readIndex(url)
      if (read === undefined) continue
      reached = true
      const entry = entryOf(read, index.chart, version, url)
      // An index that was read and lacks the version is the answer; a mirror's copy does not overrule it.
      return entry ? { ...entry, url, reached } : { url, reached }
    }
    return { reached }
  }
}

/**
 * A chart's sum, the index it was read from and the chart's own URL there (the file that digest is of);
 * `reached` says whether any index could be read at all.
 */
export interface ChartDigest {
  sha256?: string
  url?: string
  chartUrl?: string
  reached: boolean
}

function entryOf(index: unknown, chart: string, version: string, indexUrl: string): { sha256: string; chartUrl?: string } | undefined {
  const entries = (index as { entries?: Record<string, unknown> } | undefined)?.entries?.[chart]
  if (!Array.isArray(entries)) return undefined
  const bare = (v: unknown) => String(v).replace(/^v/, '')
  const entry = entries.find((e: { version?: unknown }) => bare(e?.version) === bare(version)) as { digest?: unknown; urls?: unknown } | undefined
  const sha256 = String(entry?.digest ?? '').replace(/^sha256:/, '').toLowerCase()
  if (!/^[0-9a-f]{64}$/.test(sha256)) return undefined
  // Helm resolves a relative chart URL (helm.cilium.io lists "cilium-1.15.3.tgz") against the index's.
  const first = Array.isArray(entry?.urls) && entry.urls[0] ? new URL(String(entry.urls[0]), indexUrl) : undefined
  return { sha256, ...(first && /^https?:$/.test(first.protocol) ? { chartUrl: first.href } : {}) }
}

// helm.cilium.io's index, the largest of the three, is a few MiB.
const MAX_INDEX_BYTES = 32 * 2 ** 20

async function readYaml(url: string, timeoutMs: number): Promise<unknown> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' })
    if (!response.ok || Number(response.headers.get('content-length') ?? 0) > MAX_INDEX_BYTES) return undefined
    const text = await response.text()
    return text.length > MAX_INDEX_BYTES ? undefined : (parse(text) ?? undefined)
  } catch {
    return undefined
  }
}
