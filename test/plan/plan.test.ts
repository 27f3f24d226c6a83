import { describe, expect, it } from 'vitest'
import { buildPlan } from '../../src/plan/build.js'
import { artifactKey } from '../../src/artifacts/types.js'
import { builtinCatalog, knownSha256 } from '../../src/artifacts/catalog.js'
import type { Plan } from '../../src/plan/types.js'
import type { ClusterConfig } from '../../src/config/types.js'
import { fakeChartDigest } from './chart-index.js'
import { makeConfig, type ConfigShape } from './make-config.js'

/** A plan whose network charts' sums come from the stand-in for the publishers' indexes. */
const planOf = (config: ClusterConfig, options: Parameters<typeof buildPlan>[1] = {}) => buildPlan(config, { fetchChartDigest: fakeChartDigest, ...options })

// v1.28.16 is in neither KubeKey's nor kubespray's table: the plan reads dl.k8s.io's published .sha256.
// This stands in for that lookup (the CLI test reads it from the local mirror over HTTP).
const publishedSum = async () => 'f'.repeat(64)

const moduleOf = (plan: Plan, id: string) => plan.modules.find((m) => m.id === id)!
const artifactNames = (plan: Plan) => new Set(plan.artifacts.map((a) => a.name))

describe('the reported cri-dockerd cases', () => {
  for (const version of ['v1.26.13', 'v1.28.16']) {
    it(`containerd + ${version}: docker and cri-dockerd are skipped, and no artifact of theirs is resolved`, async () => {
      const { plan } = await planOf(makeConfig({ version, containerManager: 'containerd' }), { fetchSha256: publishedSum })
      expect(moduleOf(plan, 'cri-dockerd')).toMatchObject({ skip: true, reason: 'kubernetes.containerManager is containerd' })
      expect(moduleOf(plan, 'docker')).toMatchObject({ skip: true, reason: 'kubernetes.containerManager is containerd' })
      expect(moduleOf(plan, 'containerd').skip).toBe(false)
      expect(artifactNames(plan)).not.toContain('cri-dockerd')
      expect(artifactNames(plan)).not.toContain('docker')
      expect(artifactNames(plan)).toContain('containerd')
      expect(plan.kubernetesVersion).toBe(version)
    })
  }

  it('docker + v1.26.13: cri-dockerd runs and its artifact is planned', async () => {
    const { plan } = await planOf(makeConfig({ version: 'v1.26.13', containerManager: 'docker' }))
    expect(moduleOf(plan, 'cri-dockerd').skip).toBe(false)
    expect(artifactNames(plan)).toContain('cri-dockerd')
    expect(artifactNames(plan)).toContain('docker')
    expect(artifactNames(plan)).not.toContain('containerd')
  })

  it('docker + v1.23.17: cri-dockerd is skipped because dockershim is built in', async () => {
    const { plan } = await planOf(makeConfig({ version: 'v1.23.17', containerManager: 'docker' }))
    expect(moduleOf(plan, 'cri-dockerd')).toMatchObject({ skip: true })
    expect(moduleOf(plan, 'cri-dockerd').reason).toMatch(/kubernetes\.version is v1\.23\.17/)
    expect(artifactNames(plan)).not.toContain('cri-dockerd')
  })
})

describe('skip rules', () => {
  it('etcd runs for kubekey and is skipped for kubeadm and external, naming etcd.type', async () => {
    for (const [type, skip] of [['kubekey', false], ['kubeadm', true], ['external', true]] as const) {
      const { plan } = await planOf(makeConfig({ etcd: type }))
      expect(moduleOf(plan, 'etcd').skip).toBe(skip)
      if (skip) expect(moduleOf(plan, 'etcd').reason).toMatch(`etcd.type is ${type}`)
      expect(artifactNames(plan).has('etcd')).toBe(!skip)
    }
  })

  it('joins, load balancer, network and addons follow the topology and config', async () => {
    const single = (await planOf(makeConfig({ plugin: 'none' }))).plan
    expect(moduleOf(single, 'join-control-plane')).toMatchObject({ skip: true, reason: 'roleGroups.control-plane has one host' })
    expect(moduleOf(single, 'join-workers').skip).toBe(true)
    expect(moduleOf(single, 'load-balancer').skip).toBe(true)
    expect(moduleOf(single, 'network')).toMatchObject({ skip: true, reason: 'network.plugin is none' })
    expect(moduleOf(single, 'addons')).toMatchObject({ skip: true, reason: 'addons is empty' })

    const ha = (await planOf(makeConfig({ controlPlanes: 3, workers: 2, internalLoadbalancer: 'haproxy' }))).plan
    expect(moduleOf(ha, 'join-control-plane')).toMatchObject({ skip: false, hosts: ['node2', 'node3'] })
    expect(moduleOf(ha, 'join-workers')).toMatchObject({ skip: false, hosts: ['node4', 'node5'] })
    expect(moduleOf(ha, 'load-balancer')).toMatchObject({ skip: false, hosts: ['node4', 'node5'] })
    expect(moduleOf(ha, 'kubeadm-init').hosts).toEqual(['node1'])
    expect(artifactNames(ha)).toContain('calicoctl')
  })

  it('helm is needed only for chart addons and network plugins', async () => {
    const yamlOnly = await planOf(makeConfig({ plugin: 'none', addons: [{ name: 'a', sources: { yaml: { path: ['x.yaml'] } } }] }))
    expect(artifactNames(yamlOnly.plan)).not.toContain('helm')
    const chart = await planOf(makeConfig({ plugin: 'none', addons: [{ name: 'b', sources: { chart: { name: 'nfs', repo: 'https://x' } } }] }))
    expect(artifactNames(chart.plan)).toContain('helm')
    for (const plugin of ['calico', 'flannel', 'cilium'] as const) {
      const { plan } = await planOf(makeConfig({ plugin }))
      expect(moduleOf(plan, 'network').needs.map((need) => need.name)).toEqual(['helm', plugin, ...(plugin === 'calico' ? ['calicoctl'] : [])])
    }
  })

  it('--skip and --until show their reason in the plan and drop the artifacts of what they skip', async () => {
    const { plan } = await planOf(makeConfig(), { skipModules: ['network'], until: 'etcd' })
    expect(moduleOf(plan, 'network')).toMatchObject({ skip: true, reason: 'skipped by --skip' })
    expect(moduleOf(plan, 'kubeadm-init')).toMatchObject({ skip: true, reason: 'after --until etcd' })
    expect(moduleOf(plan, 'etcd').skip).toBe(false)
    expect(artifactNames(plan)).not.toContain('calicoctl')
    await expect(planOf(makeConfig(), { until: 'etc' })).rejects.toThrow(/unknown module "etc".*precheck, configure-os/)
  })
})

describe('artifacts are derived from the plan', () => {
  const versions = ['v1.19.9', 'v1.23.17', 'v1.24.17', 'v1.26.13', 'v1.28.15', 'v1.30.14', 'v1.33.4', 'v1.36.4']
  const shapes: ConfigShape[] = []
  for (const containerManager of ['containerd', 'docker'] as const)
    for (const version of versions)
      for (const etcd of ['kubekey', 'kubeadm', 'external'] as const)
        for (const plugin of ['calico', 'flannel', 'cilium', 'none'] as const)
          for (const [controlPlanes, workers] of [[1, 0], [1, 2], [3, 0], [3, 3]])
            for (const arches of [['amd64'], ['arm64'], ['amd64', 'arm64']] as const)
              shapes.push({ containerManager, version, etcd, plugin, controlPlanes, workers, arches: [...arches] })

  it(`over ${shapes.length} configs: artifacts == union of the needs of running modules, every one with a known sum`, async () => {
    for (const shape of shapes) {
      const { plan } = await planOf(makeConfig(shape))
      const running = plan.modules.filter((m) => !m.skip)
      const union = new Set(running.flatMap((m) => m.needs.map(artifactKey)))
      expect(new Set(plan.artifacts.map(artifactKey)), JSON.stringify(shape)).toEqual(union)
      expect(plan.artifacts.length).toBe(union.size)
      for (const artifact of plan.artifacts) {
        const index = builtinCatalog.artifacts[artifact.name].index
        const sum = index ? (await fakeChartDigest(index, artifact.version)).sha256 : knownSha256(builtinCatalog, artifact.name, artifact.version, artifact.arch)
        expect(artifact.sha256).toBe(sum)
        expect(artifact.sha256Source).toBe(index ? 'chart-index' : 'catalog')
        expect(artifact.url).toContain(artifact.path)
      }
      // each artifact exists once per arch of the hosts its module runs on
      const hostArch = new Map(plan.hosts.map((h) => [h.name, h.arch]))
      for (const module of running) {
        const arches = new Set(module.hosts.map((h) => hostArch.get(h)))
        for (const need of module.needs) expect(arches.has(need.arch)).toBe(true)
        expect(new Set(module.needs.map((n) => n.arch))).toEqual(arches.size && module.needs.length ? arches : new Set())
      }
    }
  })

  it('a running module whose artifact has no sum is a plan error naming module, artifact, version, arch and field', async () => {
    const config = makeConfig({ version: 'v1.26.13' })
    config.componentVersions = { containerd: '9.9.9' }
    await expect(planOf(config)).rejects.toThrow(
      'cluster.yaml: spec.componentVersions.containerd: module containerd needs containerd 9.9.9 for amd64, and kk-action knows no sha256 for it')
  })

  it('a skipped module asking for an unknown version is no error: only running modules resolve', async () => {
    const config = makeConfig({ containerManager: 'containerd' })
    config.componentVersions = { 'cri-dockerd': '0.0.1' }
    const { plan } = await planOf(config)
    expect(moduleOf(plan, 'cri-dockerd').needs).toEqual([{ name: 'cri-dockerd', version: '0.0.1', arch: 'amd64' }])
  })

  it('etcd pinned below kubeadm\'s minimum for the patch is a plan error at its line (3.5.24 from v1.31.14, v1.32.10, v1.33.6)', async () => {
    const pinned = (version: string, etcd: string) => {
      const config = makeConfig({ version })
      config.componentVersions = { etcd }
      return planOf(config, { fetchSha256: publishedSum, locate: (field) => (field === 'spec.componentVersions.etcd' ? { line: 21, column: 11 } : undefined) })
    }
    for (const version of ['v1.31.14', 'v1.32.10', 'v1.33.6']) {
      await expect(pinned(version, '3.5.21')).rejects.toThrow(
        new RegExp(`cluster\\.yaml:21:11: spec\\.componentVersions\\.etcd: etcd 3\\.5\\.21 is below 3\\.5\\.24, the oldest external etcd kubeadm ${version.replace(/\./g, '\\.')} accepts`))
    }
    await expect(pinned('v1.33.5', '3.5.21')).resolves.toBeDefined()
    await expect(pinned('v1.30.14', '3.4.13')).resolves.toBeDefined()
    // Stacked etcd is kubeadm's own image: the pin does not apply.
    const stacked = makeConfig({ version: 'v1.33.6', etcd: 'kubeadm' })
    stacked.componentVersions = { etcd: '3.5.21' }
    await expect(planOf(stacked)).resolves.toBeDefined()
  })

  it('the default etcd of every minor is at least kubeadm\'s minimum for its newest patch', async () => {
    for (const version of ['v1.31.14', 'v1.32.11', 'v1.33.11', 'v1.34.11', 'v1.35.8', 'v1.36.4']) {
      await expect(planOf(makeConfig({ version }), { fetchSha256: publishedSum }), version).resolves.toBeDefined()
    }
  })

  it('Kubernetes 1.36 with containerd before 2.0 is a plan error (its kubelet needs the CRI RuntimeConfig call)', async () => {
    const config = makeConfig({ version: 'v1.36.4' })
    config.componentVersions = { containerd: '1.7.13' }
    await expect(planOf(config)).rejects.toThrow(/spec\.componentVersions\.containerd: containerd 1\.7\.13 cannot run Kubernetes v1\.36\.4: its kubelet needs containerd >= 2\.0/)
    expect((await planOf(makeConfig({ version: 'v1.36.4' }))).plan.artifacts.find((a) => a.name === 'containerd')?.version).toMatch(/^2\./)
  })

  it('default calico and cilium for each minor are releases whose publishers list that Kubernetes minor', () => {
    // Calico's "System requirements" and Cilium's "Kubernetes compatibility" pages, per release (Calico 3.29: 1.29–1.32
    // and 3.31: 1.32–1.35 as Tigera's versioned docs list them today).
    const calico: Record<string, [number, number]> = {
      '3.23': [21, 23], '3.26': [24, 28], '3.27': [27, 29], '3.28': [28, 30], '3.29': [29, 32], '3.30': [30, 33], '3.31': [32, 35],
    }
    // Cilium lists the e2e-tested minors ("older ones not listed do not have Cilium support"): 1.15 1.26–1.29,
    // 1.17 1.29–1.32, 1.18 1.30–1.33; 1.13 and 1.14 still listed every minor from 1.16.
    const cilium: Record<string, [number, number]> = { '1.13': [16, 26], '1.14': [16, 27], '1.15': [26, 29], '1.17': [29, 32], '1.18': [30, 33] }
    const outside: string[] = []
    for (const [minorText, d] of Object.entries(builtinCatalog.defaults)) {
      const minor = Number(minorText.split('.')[1])
      for (const [name, table, version] of [['calico', calico, d.calico], ['cilium', cilium, d.cilium]] as const) {
        const range = table[String(version).split('.').slice(0, 2).join('.')]
        if (!range || minor < range[0] || minor > range[1]) outside.push(`${minorText} ${name} ${version}`)
      }
    }
    // No listed release for these: the nearest one is taken (README says so).
    expect(outside).toEqual(['1.19 calico 3.23.5', '1.20 calico 3.23.5', '1.34 cilium 1.18.2', '1.35 cilium 1.18.2', '1.36 calico 3.31.7', '1.36 cilium 1.18.2'])
  })

  it('a patch that was never released is named as such, in the notice and in the error', async () => {
    const { notices } = await planOf(makeConfig({ version: 'v1.28.16' }), { fetchSha256: publishedSum })
    expect(notices.join('\n')).toMatch(/Kubernetes v1\.28\.16 was never released: v1\.28\.15 was the last 1\.28 patch/)
    await expect(planOf(makeConfig({ version: 'v1.28.16' }), { fetchSha256: async () => undefined }))
      .rejects.toThrow(/kubeadm v1\.28\.16 was never released: v1\.28\.15 was the last 1\.28 patch/)
    const released = await planOf(makeConfig({ version: 'v1.28.15' }))
    expect(released.notices.join('\n')).not.toMatch(/never released/)
    expect(released.plan.artifacts.find((a) => a.name === 'kubeadm')?.sha256Source).toBe('catalog')
  })

  it('every patch of 1.19–1.30 that upstream released has a sum in the catalog, for both arches', () => {
    const last: Record<number, number> = { 19: 16, 20: 15, 21: 14, 22: 17, 23: 17, 24: 17, 25: 16, 26: 15, 27: 16, 28: 15, 29: 15, 30: 14 }
    const missing: string[] = []
    for (const [minor, final] of Object.entries(last)) {
      for (let patch = 0; patch <= final; patch++) {
        const sums = builtinCatalog.artifacts.kubeadm.versions[`v1.${minor}.${patch}`]
        if (!sums?.amd64 || !sums?.arm64) missing.push(`v1.${minor}.${patch}`)
      }
    }
    // Neither KubeKey's table nor any kubespray commit pinned these; the plan reads dl.k8s.io's .sha256 for them.
    expect(missing).toEqual(['v1.19.16', 'v1.20.15', 'v1.29.13'])
  })

  it('a Kubernetes version the catalog lacks uses the published .sha256, saying so, or is an error', async () => {
    const sum = 'a'.repeat(64)
    const seen: string[] = []
    const { plan, notices } = await planOf(makeConfig({ version: 'v1.99.1' }), {
      fetchSha256: async ({ url }) => { seen.push(url); return sum },
    })
    expect(plan.artifacts.find((a) => a.name === 'kubeadm')).toMatchObject({ sha256: sum, sha256Source: 'upstream' })
    expect(seen).toContain('https://dl.k8s.io/release/v1.99.1/bin/linux/amd64/kubeadm')
    expect(notices.join('\n')).toMatch(/kubeadm v1\.99\.1 amd64 is not in kk-action's catalog/)
    expect(notices.join('\n')).toMatch(/no default component versions for Kubernetes v1\.99\.1/)
    await expect(planOf(makeConfig({ version: 'v1.99.1' }), { fetchSha256: async () => undefined }))
      .rejects.toThrow(/spec\.kubernetes\.version: module sync-binaries needs kubeadm v1\.99\.1 for amd64/)
  })
})
