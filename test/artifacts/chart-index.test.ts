/**
 * Chart sums from the publishers' repository indexes, read over HTTP from a local stand-in for upstream
 * (docs.tigera.io, flannel-io.github.io, helm.cilium.io) and a local mirror (test/support/mirror.ts).
 */
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { builtinCatalog, withChecksumsFile } from '../../src/artifacts/catalog.js'
import { chartDigestReader } from '../../src/artifacts/published-sha256.js'
import { writeBundleChecksums } from '../../src/artifacts/resolve.js'
import type { Catalog, ChartIndex } from '../../src/artifacts/types.js'
import { buildPlan } from '../../src/plan/build.js'
import { makeConfig } from '../plan/make-config.js'
import { startMirror, type Mirror } from '../support/mirror.js'
import { refusedUrl } from '../support/results-service.js'

const UPSTREAM_SUM = 'a'.repeat(64)
const OLDER_SUM = 'b'.repeat(64)
const MIRROR_SUM = 'c'.repeat(64)
const INDEX_PATH = '/calico/charts/index.yaml'
const RELEASE = 'https://github.com/projectcalico/calico/releases/download'

// The shape `helm repo index` writes: entries.<chart>[] with version, digest (sha256 of the .tgz) and urls.
const calicoIndex = (entries: Array<{ version: string; digest: string; urls: string[] }>) =>
  Buffer.from(stringify({ apiVersion: 'v1', entries: { 'tigera-operator': entries.map((e) => ({ name: 'tigera-operator', ...e })) } }))

describe('chart digests from repository indexes', () => {
  let mirror: Mirror
  let upstream: Mirror
  let catalog: Catalog
  let index: ChartIndex
  let unreachable: ChartIndex
  // The index below lists 3.27.4 as its newest: pinned, so the test does not follow the default of the minor.
  const calicoConfig = (calico = '3.27.4') => ({ ...makeConfig({ version: 'v1.30.1', plugin: 'calico' }), componentVersions: { calico } })
  const withIndex = (chartIndex: ChartIndex): Catalog =>
    ({ ...builtinCatalog, artifacts: { ...builtinCatalog.artifacts, calico: { ...builtinCatalog.artifacts.calico, index: chartIndex } } })

  beforeAll(async () => {
    upstream = await startMirror({ files: { [INDEX_PATH]: calicoIndex([
      { version: 'v3.27.4', digest: UPSTREAM_SUM, urls: [`${RELEASE}/v3.27.4/tigera-operator-v3.27.4.tgz`] },
      { version: 'v3.26.1', digest: OLDER_SUM, urls: ['https://charts.example.test/calico/tigera-operator-v3.26.1.tgz'] },
      { version: 'v3.25.0', digest: OLDER_SUM, urls: ['archive/tigera-operator-v3.25.0.tgz'] },
    ]) } })
    // A mirror's copy that disagrees: what it says must never overrule an upstream that answered.
    mirror = await startMirror({ files: { [INDEX_PATH]: calicoIndex([{ version: 'v3.27.4', digest: MIRROR_SUM, urls: [] }]) } })
    index = { url: `${upstream.url}${INDEX_PATH}`, chart: 'tigera-operator' }
    unreachable = { url: `${(await refusedUrl()).replace(/\/$/, '')}${INDEX_PATH}`, chart: 'tigera-operator' }
    catalog = withIndex(index)
  })
  afterAll(async () => {
    await mirror?.stop()
    await upstream?.stop()
  })
  beforeEach(() => {
    mirror.requests.length = 0
    upstream.requests.length = 0
  })

  it('reads the publisher\'s index first, once per plan, and names the chart file its digest is of', async () => {
    const read = chartDigestReader({ mirror: mirror.url })
    expect(await read(index, '3.27.4')).toEqual({ sha256: UPSTREAM_SUM, url: index.url, reached: true, chartUrl: `${RELEASE}/v3.27.4/tigera-operator-v3.27.4.tgz` })
    expect(await read(index, 'v3.26.1')).toMatchObject({ sha256: OLDER_SUM, chartUrl: 'https://charts.example.test/calico/tigera-operator-v3.26.1.tgz' })
    expect(upstream.requestsFor(INDEX_PATH)).toHaveLength(1)
    expect(mirror.requestsFor(INDEX_PATH)).toHaveLength(0)
  })

  it('a relative chart URL is resolved against the index, as helm does', async () => {
    expect((await chartDigestReader()(index, '3.25.0')).chartUrl).toBe(`${upstream.url}/calico/charts/archive/tigera-operator-v3.25.0.tgz`)
  })

  it('a version the publisher does not list has no sum, and the mirror\'s copy is not asked to overrule it', async () => {
    expect(await chartDigestReader({ mirror: mirror.url })(index, '9.9.9')).toEqual({ url: index.url, reached: true })
    expect(mirror.requests).toHaveLength(0)
  })

  it('only when upstream cannot be read is the mirror\'s copy used, and the plan says both then come from the mirror', async () => {
    const { plan, notices } = await buildPlan(calicoConfig(), { catalog: withIndex(unreachable), fetchChartDigest: chartDigestReader({ mirror: mirror.url }) })
    expect(plan.artifacts.find((a) => a.name === 'calico')).toMatchObject({ sha256: MIRROR_SUM, sha256Source: 'chart-index' })
    expect(notices.join('\n')).toContain('could not be read: the chart and its sum both come from your mirror')
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
    expect(plan.artifacts.find((a) => a.name === 'calico')).toMatchObject({ version: '3.27.4', sha256: UPSTREAM_SUM, sha256Source: 'chart-index', file: 'tigera-operator-v3.27.4.tgz' })
    expect(notices.join('\n')).toContain(`calico 3.27.4 is not in kk-action's catalog; using the chart's digest in ${index.url}`)
    expect(notices.join('\n')).not.toContain('come from your mirror')
  })

  it('a version the index lacks is a plan error naming the field, the index and the checksums way out', async () => {
    const error = await buildPlan(calicoConfig('3.99.0'), { catalog, fetchChartDigest: chartDigestReader({ mirror: mirror.url }) }).catch((e: Error) => e)
    expect(String(error)).toContain('module network needs calico 3.99.0')
    expect(String(error)).toContain(`${index.url} lists no tigera-operator 3.99.0`)
    expect(String(error)).toContain('checksums file')
  })

  it('pinning calico pins calicoctl too (one Calico release), and the chart comes from where the index says', async () => {
    const { plan } = await buildPlan(calicoConfig('3.26.1'), { catalog, fetchChartDigest: chartDigestReader({ mirror: mirror.url }) })
    expect(plan.artifacts.find((a) => a.name === 'calico')).toMatchObject({ version: '3.26.1', sha256: OLDER_SUM,
      url: 'https://charts.example.test/calico/tigera-operator-v3.26.1.tgz', path: '/calico/tigera-operator-v3.26.1.tgz', file: 'tigera-operator-v3.26.1.tgz' })
    expect(plan.artifacts.find((a) => a.name === 'calicoctl')?.version).toBe('3.26.1')
  })

  it('no index reachable: a plan preview leaves the sum for deploy, saying so; any other plan is an error saying what to do', async () => {
    const offline = withIndex(unreachable)
    const preview = await buildPlan(calicoConfig(), { catalog: offline, fetchChartDigest: chartDigestReader(), deferUnreachableChartSums: true })
    expect(preview.plan.artifacts.find((a) => a.name === 'calico')).toMatchObject({ sha256: '', sha256Source: 'chart-index' })
    expect(preview.notices.join('\n')).toMatch(/calico 3\.27\.4: .* cannot be reached from here, so its sha256 is left for deploy and fetch to read/)
    const error = await buildPlan(calicoConfig(), { catalog: offline, fetchChartDigest: chartDigestReader() }).catch((e: Error) => e)
    expect(String(error)).toContain('neither could be reached')
    expect(String(error)).toContain('Serve the index on your mirror, or give the sum in a checksums file')
  })

  it('a checksums file gives the sum without reading any index', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kk-chart-sums-'))
    const file = join(dir, 'sums.json')
    await writeFile(file, JSON.stringify({ artifacts: { calico: { versions: { '3.27.4': { amd64: MIRROR_SUM, arm64: MIRROR_SUM } } } } }))
    const { plan } = await buildPlan(calicoConfig(), { catalog: withChecksumsFile(catalog, file).catalog, fetchChartDigest: chartDigestReader({ mirror: mirror.url }) })
    expect(plan.artifacts.find((a) => a.name === 'calico')).toMatchObject({ sha256: MIRROR_SUM, sha256Source: 'checksums-file' })
    expect(mirror.requests.length + upstream.requests.length).toBe(0)
  })

  it('a fetch bundle\'s checksums.json keeps the chart\'s own URL, so the air-gapped plan looks where fetch put it', async () => {
    const { plan } = await buildPlan(calicoConfig('3.26.1'), { catalog, fetchChartDigest: chartDigestReader() })
    const dir = await mkdtemp(join(tmpdir(), 'kk-bundle-sums-'))
    const sums = writeBundleChecksums(plan.artifacts, dir)
    const offline = await buildPlan(calicoConfig('3.26.1'), { catalog: withChecksumsFile(withIndex(unreachable), sums).catalog })
    const chart = offline.plan.artifacts.find((a) => a.name === 'calico')!
    expect(chart).toMatchObject({ sha256: OLDER_SUM, sha256Source: 'checksums-file', path: '/calico/tigera-operator-v3.26.1.tgz' })
  })
})
