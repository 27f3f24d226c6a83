/**
 * Chart sums from the publishers' repository indexes, read over HTTP from a local mirror and a local
 * stand-in for upstream (test/support/mirror.ts), as the plan reads docs.tigera.io's, flannel-io.github.io's
 * and helm.cilium.io's index.yaml.
 */
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { builtinCatalog, withChecksumsFile } from '../../src/artifacts/catalog.js'
import { chartDigestReader } from '../../src/artifacts/published-sha256.js'
import type { Catalog } from '../../src/artifacts/types.js'
import { buildPlan } from '../../src/plan/build.js'
import { makeConfig } from '../plan/make-config.js'
import { startMirror, type Mirror } from '../support/mirror.js'
import { refusedUrl } from '../support/results-service.js'

const CALICO_SUM = 'a'.repeat(64)
const OTHER_SUM = 'b'.repeat(64)
const INDEX_PATH = '/calico/charts/index.yaml'

// The shape `helm repo index` writes: entries.<chart>[] with version and digest (sha256 of the .tgz).
const calicoIndex = (sum: string) => Buffer.from(stringify({
  apiVersion: 'v1',
  entries: { 'tigera-operator': [
    { name: 'tigera-operator', version: 'v3.27.4', digest: sum, urls: ['https://github.com/projectcalico/calico/releases/download/v3.27.4/tigera-operator-v3.27.4.tgz'] },
    { name: 'tigera-operator', version: 'v3.26.1', digest: OTHER_SUM, urls: ['https://charts.example.test/calico/tigera-operator-v3.26.1.tgz'] },
  ] },
}))

describe('chart digests from repository indexes', () => {
  let mirror: Mirror
  let upstream: Mirror
  let catalog: Catalog
  const calicoConfig = () => makeConfig({ version: 'v1.30.1', plugin: 'calico' })

  beforeAll(async () => {
    mirror = await startMirror({ files: { [INDEX_PATH]: calicoIndex(CALICO_SUM) } })
    upstream = await startMirror({ files: { [INDEX_PATH]: calicoIndex(OTHER_SUM) } })
    // The real index lives at docs.tigera.io; the stand-in upstream keeps its path.
    catalog = { ...builtinCatalog, artifacts: { ...builtinCatalog.artifacts,
      calico: { ...builtinCatalog.artifacts.calico, index: { url: `${upstream.url}${INDEX_PATH}`, chart: 'tigera-operator' } } } }
  })
  afterAll(async () => {
    await mirror?.stop()
    await upstream?.stop()
  })

  it('reads the digest of the wanted version, from the mirror first, one request per index', async () => {
    const read = chartDigestReader({ mirror: mirror.url })
    const index = catalog.artifacts.calico.index!
    expect(await read(index, '3.27.4')).toEqual({ sha256: CALICO_SUM, url: `${mirror.url}${INDEX_PATH}`, reached: true,
      chartUrl: 'https://github.com/projectcalico/calico/releases/download/v3.27.4/tigera-operator-v3.27.4.tgz' })
    expect(await read(index, 'v3.26.1')).toMatchObject({ sha256: OTHER_SUM, url: `${mirror.url}${INDEX_PATH}`, reached: true })
    expect(mirror.requestsFor(INDEX_PATH)).toHaveLength(1)
    expect(upstream.requestsFor(INDEX_PATH)).toHaveLength(0)
  })

  it('falls back to upstream when the mirror has no index; a version no index lists is undefined', async () => {
    const empty = await startMirror()
    try {
      const read = chartDigestReader({ mirror: empty.url })
      const index = catalog.artifacts.calico.index!
      expect((await read(index, '3.27.4'))?.sha256).toBe(OTHER_SUM)
      expect(await read(index, '9.9.9')).toEqual({ reached: true })
      expect(await read({ ...index, chart: 'not-there' }, '3.27.4')).toEqual({ reached: true })
    } finally {
      await empty.stop()
    }
  })

  it('an index that is not YAML gives no sum rather than an exception', async () => {
    const broken = await startMirror({ files: { [INDEX_PATH]: Buffer.from('entries: [unclosed\n  : :') } })
    try {
      expect(await chartDigestReader()({ url: `${broken.url}${INDEX_PATH}`, chart: 'tigera-operator' }, '3.27.4')).toEqual({ reached: false })
    } finally {
      await broken.stop()
    }
  })

  it('the plan takes the calico chart\'s sum from the index and says where it came from', async () => {
    const { plan, notices } = await buildPlan(calicoConfig(), { catalog, fetchChartDigest: chartDigestReader({ mirror: mirror.url }) })
    const chart = plan.artifacts.find((a) => a.name === 'calico')!
    expect(chart).toMatchObject({ version: '3.27.4', sha256: CALICO_SUM, sha256Source: 'chart-index', file: 'tigera-operator-v3.27.4.tgz' })
    expect(notices.join('\n')).toContain(`calico 3.27.4 is not in kk-action's catalog; using the chart's digest in ${mirror.url}${INDEX_PATH}`)
  })

  it('a version the index lacks is a plan error naming the field, the index and the checksums way out', async () => {
    const config = { ...calicoConfig(), componentVersions: { calico: '3.99.0' } }
    const error = await buildPlan(config, { catalog, fetchChartDigest: chartDigestReader({ mirror: mirror.url }) }).catch((e: Error) => e)
    expect(String(error)).toContain('module network needs calico 3.99.0')
    expect(String(error)).toContain(`${upstream.url}${INDEX_PATH}`)
    expect(String(error)).toContain('checksums file')
  })

  it('pinning calico pins calicoctl too: one Calico release', async () => {
    const config = { ...calicoConfig(), componentVersions: { calico: '3.26.1' } }
    const { plan } = await buildPlan(config, { catalog, fetchChartDigest: chartDigestReader({ mirror: mirror.url }) })
    // The index names the file its digest is of: the plan downloads that one (its path is the mirror's too).
    expect(plan.artifacts.find((a) => a.name === 'calico')).toMatchObject({ version: '3.26.1', sha256: OTHER_SUM,
      url: 'https://charts.example.test/calico/tigera-operator-v3.26.1.tgz', path: '/calico/tigera-operator-v3.26.1.tgz', file: 'tigera-operator-v3.26.1.tgz' })
    expect(plan.artifacts.find((a) => a.name === 'calicoctl')?.version).toBe('3.26.1')
  })

  it('unreachable indexes: a plan preview leaves the sum for deploy, saying so; any other plan is an error saying what to do', async () => {
    const offline = { ...catalog, artifacts: { ...catalog.artifacts,
      calico: { ...catalog.artifacts.calico, index: { url: `${await refusedUrl()}${INDEX_PATH}`, chart: 'tigera-operator' } } } }
    const preview = await buildPlan(calicoConfig(), { catalog: offline, fetchChartDigest: chartDigestReader(), deferUnreachableChartSums: true })
    expect(preview.plan.artifacts.find((a) => a.name === 'calico')).toMatchObject({ sha256: '', sha256Source: 'chart-index' })
    expect(preview.notices.join('\n')).toMatch(/calico 3\.27\.4: .* cannot be reached from here, so its sha256 is left for deploy and fetch to read/)
    const error = await buildPlan(calicoConfig(), { catalog: offline, fetchChartDigest: chartDigestReader() }).catch((e: Error) => e)
    expect(String(error)).toContain('could not be reached')
    expect(String(error)).toContain('Serve the index on your mirror, or give the sum in a checksums file')
  })

  it('a checksums file gives the sum without reading any index', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kk-chart-sums-'))
    const file = join(dir, 'sums.json')
    await writeFile(file, JSON.stringify({ artifacts: { calico: { versions: { '3.27.4': { amd64: CALICO_SUM, arm64: CALICO_SUM } } } } }))
    const before = mirror.requests.length + upstream.requests.length
    const { plan } = await buildPlan(calicoConfig(), { catalog: withChecksumsFile(catalog, file).catalog, fetchChartDigest: chartDigestReader({ mirror: mirror.url }) })
    expect(plan.artifacts.find((a) => a.name === 'calico')).toMatchObject({ sha256: CALICO_SUM, sha256Source: 'checksums-file' })
    expect(mirror.requests.length + upstream.requests.length).toBe(before)
  })
})
