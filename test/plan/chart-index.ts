import { createHash } from 'node:crypto'
import type { ChartIndex } from '../../src/artifacts/types.js'

/**
 * TEST DOUBLE of the chart publishers' repository indexes (docs.tigera.io, flannel-io.github.io,
 * helm.cilium.io): every chart version is "listed", with a made-up digest derived from chart and version.
 * Plans never download, so no real chart has to match it.
 */
export async function fakeChartDigest(index: ChartIndex, version: string): Promise<{ sha256: string; url: string; reached: true }> {
  return { sha256: createHash('sha256').update(`${index.chart}@${version}`).digest('hex'), url: index.url, reached: true }
}
