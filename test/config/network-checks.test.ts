import { describe, it } from 'vitest'
import { expectRejected, load, singleNode } from './helpers.js'

// singleNode() puts its extra spec lines from line 12 on.

describe('addon charts', () => {
  it('refuses a repo/chart name without sources.chart.repo, at the name, saying which repository to add', () => {
    expectRejected(singleNode(
      '  addons:',
      '  - name: cache',
      '    sources:',
      '      chart:',
      '        name: bitnami/redis',
    ), {
      line: 16,
      column: 15,
      field: 'spec.addons[0].sources.chart.name',
      says: ['chart bitnami/redis is looked up in the helm repository "bitnami"', 'helm repo add bitnami URL'],
    })
  })

  it('refuses a chart with neither repo nor path', () => {
    expectRejected(singleNode('  addons:', '  - name: web', '    sources:', '      chart:', '        name: nginx'), {
      line: 16, column: 15, field: 'spec.addons[0].sources.chart.name', says: ['chart nginx has neither a repo nor a path'],
    })
  })

  it('accepts repo/chart with a repo, an oci:// chart and a packaged chart path', () => {
    load(singleNode('  addons:',
      '  - {name: a, sources: {chart: {name: bitnami/redis, repo: "https://charts.example.test/bitnami"}}}',
      '  - {name: b, sources: {chart: {name: "oci://registry.example.test/charts/b"}}}',
      '  - {name: c, sources: {chart: {name: c, path: charts/c-1.0.0.tgz}}}'))
  })
})

describe('kubernetes.disableKubeProxy', () => {
  it('refuses flannel without kube-proxy, at disableKubeProxy', () => {
    expectRejected(singleNode('  kubernetes:', '    version: v1.28.15', '    disableKubeProxy: true', '  network:', '    plugin: flannel'), {
      line: 14, column: 23, field: 'spec.kubernetes.disableKubeProxy', says: ['network.plugin flannel needs kube-proxy', 'use cilium or calico'],
    })
  })

  it('refuses flannel given as an override (the network-plugin input) too', () => {
    expectRejected(singleNode('  kubernetes:', '    version: v1.28.15', '    disableKubeProxy: true', '  network:', '    plugin: cilium'), {
      line: 14, column: 23, field: 'spec.kubernetes.disableKubeProxy', says: ['network.plugin flannel needs kube-proxy'],
    }, { overrides: { networkPlugin: 'flannel' } })
  })

  it('accepts cilium and calico without kube-proxy', () => {
    for (const plugin of ['cilium', 'calico']) load(singleNode('  kubernetes:', '    version: v1.28.15', '    disableKubeProxy: true', '  network:', `    plugin: ${plugin}`))
  })
})

describe('kubernetes.kubeletArgs', () => {
  it('refuses a flag the kubelet of the version no longer has, at the entry, also when the version is an override', () => {
    const text = singleNode('  kubernetes:', '    version: v1.23.17', '    kubeletArgs:', '    - max-pods=200', '    - network-plugin=cni')
    load(text)
    expectRejected(text, {
      line: 16, column: 7, field: 'spec.kubernetes.kubeletArgs[1]',
      says: ['"network-plugin=cni" is refused by kubelet v1.28.15', 'The kubelet has no --network-plugin since v1.24'],
    }, { overrides: { kubernetesVersion: 'v1.28.15' } })
  })
})
