import { parse } from 'yaml'
import type { ChartIndex } from './types.js'

/**
 * dl.k8s.io publishes `<file>.sha256` next to every Kubernetes binary. For a version the catalog lacks,
 * the plan reads it (from the mirror first, keeping the upstream path, then upstream).
 */
export function publishedSha256Reader(options: { mirror?: string; timeoutMs?: number } = {}) {
  return async (artifact: { url: string; path: string }): Promise<string | undefined> => {
    const candidates = [
      ...(options.mirror ? [`${options.mirror.replace(/\/+$/, '')}${artifact.path}.sha256`] : []),
      `${artifact.url}.sha256`,
    ]
    for (const url of candidates) {
      const sum = await readSum(url, options.timeoutMs ?? 10_000)
      if (sum) return sum
    }
    return undefined
  }
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
 * sha256 as `digest`. For a chart version the catalog lacks, the plan reads it there (mirror first, keeping
 * the index's upstream path, then upstream). One read per index per plan.
 */
export function chartDigestReader(options: { mirror?: string; timeoutMs?: number } = {}) {
  const indexes = new Map<string, Promise<unknown>>()
  const readIndex = (url: string) => {
    if (!indexes.has(url)) indexes.set(url, readYaml(url, options.timeoutMs ?? 30_000))
    return indexes.get(url)!
  }
  return async (index: ChartIndex, version: string): Promise<ChartDigest> => {
    const candidates = [
      ...(options.mirror ? [`${options.mirror.replace(/\/+$/, '')}${new URL(index.url).pathname}`] : []),
      index.url,
    ]
    let reached = false
    for (const url of candidates) {
      const read = await readIndex(url)
      reached ||= read !== undefined
      const entry = entryOf(read, index.chart, version)
      if (entry) return { ...entry, url, reached }
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

function entryOf(index: unknown, chart: string, version: string): { sha256: string; chartUrl?: string } | undefined {
  const entries = (index as { entries?: Record<string, unknown> } | undefined)?.entries?.[chart]
  if (!Array.isArray(entries)) return undefined
  const bare = (v: unknown) => String(v).replace(/^v/, '')
  const entry = entries.find((e: { version?: unknown }) => bare(e?.version) === bare(version)) as { digest?: unknown; urls?: unknown } | undefined
  const sha256 = String(entry?.digest ?? '').replace(/^sha256:/, '').toLowerCase()
  if (!/^[0-9a-f]{64}$/.test(sha256)) return undefined
  const first = Array.isArray(entry?.urls) ? String(entry.urls[0] ?? '') : ''
  return { sha256, ...(/^https?:\/\//.test(first) ? { chartUrl: first } : {}) }
}

async function readYaml(url: string, timeoutMs: number): Promise<unknown> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' })
    if (!response.ok) return undefined
    return parse(await response.text(), { maxAliasCount: -1 })
  } catch {
    return undefined
  }
}
