import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/index.js'
import { isUserError } from '../../src/errors.js'
import { clusterYaml, expectNoStack, expectRejected, FILE, load, loadError, singleNode } from './helpers.js'

const FIXTURES = resolve(import.meta.dirname, '../fixtures/configs')

describe('multi-document files', () => {
  it('takes the Cluster document and ignores a KubeSphere ClusterConfiguration with a notice', () => {
    const text = `${singleNode()}---\napiVersion: installer.kubesphere.io/v1alpha1\nkind: ClusterConfiguration\nmetadata:\n  name: ks-installer\n`
    const { config, notices } = load(text)
    expect(config.hosts.map((host) => host.name)).toEqual(['node1'])
    expect(notices).toContain(`${FILE}:13: ignored document 2 (kind ClusterConfiguration): kk-action reads only the Cluster document`)
  })

  it('finds the Cluster document when it is not the first, and skips empty documents', () => {
    const text = `---\napiVersion: v1\nkind: ConfigMap\n---\n---\n${singleNode()}`
    const { config, notices } = load(text)
    expect(config.name).toBe('test')
    expect(notices.filter((notice) => notice.includes('ignored document'))).toEqual([
      `${FILE}:2: ignored document 1 (kind ConfigMap): kk-action reads only the Cluster document`,
    ])
  })

  it('rejects two Cluster documents', () => {
    expectRejected(`${singleNode()}---\n${singleNode()}`, { line: 13, column: 1, field: 'kind', says: ['more than one kind: Cluster document (documents 1 and 2)'] })
  })
})

describe('rejected files', () => {
  it.each(['', '\n\n', '# just a comment\n', '---\n'])('rejects an empty file (%j)', (text) => {
    const error = loadError(text)
    expect(error.message).toBe(`${FILE}: the file is empty. Write a KubeKey config: apiVersion: kubekey.kubesphere.io/v1alpha2, kind: Cluster`)
  })

  it('rejects a document of another kind', () => {
    expectRejected('apiVersion: installer.kubesphere.io/v1alpha1\nkind: ClusterConfiguration\nspec: {}\n', {
      line: 1,
      column: 1,
      field: 'kind',
      says: ['no kind: Cluster document in the file (document 1: kind ClusterConfiguration)'],
    })
  })

  it('rejects a document without a kind', () => {
    expectRejected('hosts: []\n', { line: 1, column: 1, field: 'kind', says: ['document 1: kind missing'] })
  })

  it('rejects a Cluster of another apiVersion', () => {
    expectRejected(singleNode().replace('kubekey.kubesphere.io/v1alpha2', 'kubekey.kubesphere.io/v1alpha1'), {
      line: 1,
      column: 1,
      field: 'apiVersion',
      says: ['apiVersion "kubekey.kubesphere.io/v1alpha1" is not supported', "KubeKey's kubekey.kubesphere.io/v1alpha2 Cluster"],
    })
  })

  it('rejects a tab used for indentation, with its line', () => {
    const text = singleNode('  kubernetes:', '\tversion: v1.28.16')
    expectRejected(text, { line: 13, column: 1, says: ['invalid YAML: Tabs are not allowed as indentation', 'Indent with spaces'] })
  })

  it('rejects other YAML syntax errors with their line', () => {
    expectRejected(singleNode('  network:', '    plugin: [calico'), { line: 14, column: 1, says: ['invalid YAML: Flow sequence'] })
    expectRejected(singleNode('  kubernetes:', '    version: v1.28.16', '    version: v1.29.1'), { line: 14, column: 5, says: ['invalid YAML: Map keys must be unique'] })
  })

  it('rejects a syntax error in an ignored document too', () => {
    expectRejected(`${singleNode()}---\nkind: Other\n\tbad: 1\n`, { line: 14, column: 1, says: ['Tabs are not allowed'] })
  })

  it('rejects an alias without an anchor, at the alias', () => {
    expectRejected(singleNode('  kubernetes: *defaults'), { line: 12, column: 15, says: ['invalid YAML: alias *defaults has no anchor &defaults before it'] })
  })

  it('rejects alias expansion beyond YAML\'s limit instead of exhausting memory', () => {
    const bomb = ['x0: &a0 [1, 2]', ...Array.from({ length: 4 }, (_, i) => `x${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(', ')}]`)].join('\n')
    expectRejected(`${bomb}\n${singleNode()}`, { line: 1, column: 1, says: ['invalid YAML: Excessive alias count'] })
  })

  it('says when the file does not exist', () => {
    try {
      loadConfig('/nonexistent/cluster.yaml')
      expect.unreachable()
    } catch (error) {
      expect(isUserError(error)).toBe(true)
      expect((error as Error).message).toBe('/nonexistent/cluster.yaml: config file not found. Pass the path of a KubeKey cluster config (kk create config writes one)')
      expectNoStack((error as Error).message)
    }
  })
})

describe('a config using every KubeKey v1alpha2 section', () => {
  const result = loadConfig(resolve(FIXTURES, 'kubekey-full.yaml'), { env: {} })

  it('loads, keeping every field', () => {
    const { config } = result
    expect(config.hosts.map((host) => [host.name, host.arch, host.roles])).toEqual([
      ['node1', 'amd64', ['etcd', 'control-plane', 'worker']],
      ['node2', 'amd64', ['control-plane', 'worker']],
      ['node3', 'arm64', ['control-plane', 'worker']],
    ])
    expect(config.kubernetes).toMatchObject({ version: 'v1.28.16', containerManager: 'containerd', proxyMode: 'iptables', maxPods: 150, podPidsLimit: 8000 })
    expect(config.kubernetes.extra).toMatchObject({
      apiserverArgs: ['--audit-log-maxage=30'],
      kubeletConfiguration: { systemReserved: { cpu: '500m', memory: '512Mi' } },
      kubeProxyConfiguration: { ipvs: { excludeCIDRs: ['172.16.0.2/24'] } },
      autoRenewCerts: true,
      masqueradeAll: false,
      nodeCidrMaskSize: 24,
      containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
    })
    expect(config.kubernetes.featureGates).toEqual({ RotateKubeletServerCertificate: true })
    expect(config.etcd).toMatchObject({ type: 'kubekey', backupPeriod: 30, keepBackupNumber: 7, extra: { heartbeatInterval: 250, quotaBackendBytes: 2147483648 } })
    expect(config.network).toMatchObject({ kubePodsCIDR: '10.233.64.0/18,fd85:ee78:d8a6:8607::1:0000/112', extra: { calico: { ipipMode: 'Always' } } })
    expect(config.registry).toMatchObject({ privateRegistry: 'dockerhub.kubekey.local', auths: { 'dockerhub.kubekey.local': { username: 'robot' } } })
    expect(config.addons).toEqual([
      {
        name: 'nfs-client',
        namespace: 'kube-system',
        sources: { chart: { name: 'nfs-client-provisioner', repo: 'https://charts.kubesphere.io/main', valuesFile: '/home/ubuntu/nfs-client.yaml' } },
      },
    ])
    expect(config.system).toMatchObject({ timezone: 'Asia/Shanghai', ntpServers: ['time1.cloud.tencent.com', 'node1'] })
    expect(config.spec).toMatchObject({ storage: { openebs: { basePath: '/var/openebs/local' } }, kubesphere: { enabled: true, version: 'v3.4.1' } })
  })

  it('lists the fields it does not act on yet in one notice', () => {
    const { config, notices } = result
    expect(config.unusedFields).toEqual(
      expect.arrayContaining([
        'spec.hosts[2].timeout',
        'spec.roleGroups.registry',
        'spec.controlPlaneEndpoint.externalDNS',
        'spec.system.preInstall',
        'spec.storage.openebs',
        'spec.dns.coredns',
        'spec.registry.namespaceRewrite',
        'spec.kubesphere.enabled',
      ]),
    )
    expect(config.unusedFields).not.toContain('spec.kubernetes.version')
    // the kubeadm and etcd modules act on these
    for (const field of ['spec.kubernetes.kubeletArgs', 'spec.kubernetes.kubeletConfiguration', 'spec.etcd.heartbeatInterval']) {
      expect(config.unusedFields).not.toContain(field)
    }
    expect(config.unusedFields).not.toContain('spec.system.ntpServers') // configure-os acts on it
    expect(config.unusedFields.filter((field) => field.startsWith('spec.network.calico'))).toEqual([]) // the network module does
    expect(config.unusedFields).not.toContain('spec.registry.registryMirrors') // written as [], which is "not set"
    const unusedNotices = notices.filter((notice) => notice.includes('not acted on'))
    expect(unusedNotices).toHaveLength(1)
    expect(unusedNotices[0]).toContain(config.unusedFields.join(', '))
  })

  it('registers passwords as secrets', () => {
    expect(result.secrets.sort()).toEqual(['Qcloud@123', 'registry-secret'])
  })
})

describe('YAML anchors', () => {
  it('resolves aliases and merge keys, as Go YAML does for KubeKey', () => {
    const text = clusterYaml(
      '  hosts:',
      '  - &node {name: node1, address: 10.0.0.1, user: ubuntu, port: 2222}',
      '  - {<<: *node, name: node2, address: 10.0.0.2}',
      '  roleGroups:',
      '    etcd: &first [node1]',
      '    control-plane: *first',
      '    worker: [node2]',
    )
    const { config, notices } = load(text)
    expect(config.hosts[1]).toMatchObject({ name: 'node2', address: '10.0.0.2', user: 'ubuntu', port: 2222 })
    expect(config.roleGroups['control-plane']).toEqual(['node1'])
    expect(notices.join('\n')).not.toContain('unknown field')
  })
})

describe('unknown fields', () => {
  it('are a notice with their position and a likely correction, not an error', () => {
    const { config, notices } = load(singleNode('  kubernetes:', '    contanerManager: containerd', '  gpu:', '    enabled: true'))
    expect(notices).toContain(`${FILE}:13:5: spec.kubernetes.contanerManager: unknown field, ignored — did you mean containerManager?`)
    expect(notices).toContain(`${FILE}:14:3: spec.gpu: unknown field, ignored (possible typo)`)
    expect(config.kubernetes.containerManagerDefaulted).toBe(true)
  })

  it('are reported inside hosts and role groups', () => {
    const text = singleNode().replace('{name: node1, address: 10.0.0.1}', '{name: node1, adress: 10.0.0.1, internalAddress: 10.0.0.1}').replace('    worker: [node1]', '    workers: [node1]')
    const { notices, config } = load(text)
    expect(notices).toContain(`${FILE}:7:19: spec.hosts[0].adress: unknown field, ignored — did you mean address?`)
    expect(notices).toContain(`${FILE}:11:5: spec.roleGroups.workers: unknown field, ignored — did you mean worker?`)
    expect(config.roleGroups.worker).toEqual([])
  })

  it('do not hide a real error', () => {
    const error = loadError(singleNode('  kubernetes:', '    contanerManager: containerd', '    containerManager: crio'))
    expect(error.message).toMatch(/^cluster\.yaml:14:23: spec\.kubernetes\.containerManager: /)
  })
})
