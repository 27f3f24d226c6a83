import { describe, expect, it } from 'vitest'
import { clusterYaml, load, singleNode } from './helpers.js'

describe('KubeKey defaults', () => {
  it('fills every default of a minimal config like KubeKey does', () => {
    const { config } = load(singleNode())
    expect(config.name).toBe('test')
    expect(config.hosts).toEqual([
      {
        name: 'node1',
        address: '10.0.0.1',
        internalAddress: '10.0.0.1',
        port: 22,
        user: 'root',
        privateKeyPath: '~/.ssh/id_rsa',
        arch: 'amd64',
        roles: ['etcd', 'control-plane', 'worker'],
        labels: {},
      },
    ])
    expect(config.controlPlaneEndpoint).toEqual({ domain: 'lb.kubesphere.local', address: '', port: 6443 })
    expect(config.kubernetes).toMatchObject({
      version: 'v1.23.17',
      containerManager: 'docker',
      containerManagerDefaulted: true,
      clusterName: 'cluster.local',
      dnsDomain: 'cluster.local',
      proxyMode: 'ipvs',
      maxPods: 110,
      podPidsLimit: 10000,
      apiserverCertExtraSans: [],
      featureGates: {},
      extra: {},
    })
    expect(config.etcd).toEqual({
      type: 'kubekey',
      dataDir: '/var/lib/etcd',
      backupDir: '/var/backups/kube_etcd',
      backupPeriod: 1440,
      keepBackupNumber: 5,
      extra: {},
    })
    expect(config.network).toEqual({ plugin: 'calico', kubePodsCIDR: '10.233.64.0/18', kubeServiceCIDR: '10.233.0.0/18', extra: {} })
    expect(config.registry).toEqual({ registryMirrors: [], insecureRegistries: [], auths: {} })
    expect(config.addons).toEqual([])
    expect(config.componentVersions).toEqual({})
    expect(config.unusedFields).toEqual([])
  })

  it('says that a missing containerManager means docker, and cri-dockerd from Kubernetes v1.24', () => {
    const old = load(singleNode())
    expect(old.notices.filter((notice) => notice.includes('containerManager'))).toEqual([
      expect.stringMatching(/containerManager is not set, so KubeKey's default docker applies; with Kubernetes v1\.23\.17 \(< v1\.24\)/),
    ])
    const recent = load(singleNode('  kubernetes:', '    version: v1.26.13'))
    expect(recent.config.kubernetes).toMatchObject({ containerManager: 'docker', containerManagerDefaulted: true })
    expect(recent.notices.join('\n')).toMatch(/default docker applies; with Kubernetes v1\.26\.13 \(>= v1\.24, no dockershim\) that also means cri-dockerd/)
  })

  it('gives no containerManager notice when it is set', () => {
    const { config, notices } = load(singleNode('  kubernetes:', '    containerManager: containerd'))
    expect(config.kubernetes).toMatchObject({ containerManager: 'containerd', containerManagerDefaulted: false })
    expect(notices.join('\n')).not.toContain('containerManager')
  })

  it('lets address and internalAddress fill each other', () => {
    const { config } = load(
      clusterYaml(
        '  hosts:',
        '  - {name: node1, address: 203.0.113.1}',
        '  - {name: node2, internalAddress: 10.0.0.2}',
        '  - {name: node3, address: 203.0.113.3, internalAddress: "10.0.0.3,fd00::3"}',
        '  roleGroups:',
        '    etcd: [node1]',
        '    control-plane: [node1]',
        '    worker: [node2, node3]',
      ),
    )
    expect(config.hosts.map((host) => [host.address, host.internalAddress])).toEqual([
      ['203.0.113.1', '203.0.113.1'],
      ['10.0.0.2', '10.0.0.2'],
      ['203.0.113.3', '10.0.0.3,fd00::3'],
    ])
  })

  it('defaults privateKeyPath only when no credential is given', () => {
    const { config } = load(
      clusterYaml(
        '  hosts:',
        '  - {name: node1, address: 10.0.0.1, password: pw1}',
        '  - {name: node2, address: 10.0.0.2, privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----"}',
        '  - {name: node3, address: 10.0.0.3, privateKeyPath: /keys/node3, user: ubuntu, port: 2222}',
        '  - {name: node4, address: 10.0.0.4}',
        '  roleGroups:',
        '    etcd: [node1]',
        '    control-plane: [node1]',
        '    worker: [node2, node3, node4]',
      ),
    )
    const [node1, node2, node3, node4] = config.hosts
    expect(node1).toMatchObject({ password: 'pw1' })
    expect(node1.privateKeyPath).toBeUndefined()
    expect(node2).toMatchObject({ privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----' })
    expect(node2.privateKeyPath).toBeUndefined()
    expect(node3).toMatchObject({ privateKeyPath: '/keys/node3', user: 'ubuntu', port: 2222 })
    expect(node4).toMatchObject({ privateKeyPath: '~/.ssh/id_rsa', user: 'root', port: 22 })
  })

  it('accepts x86_64 and aarch64 as aliases of amd64 and arm64', () => {
    const { config } = load(
      clusterYaml(
        '  hosts:',
        '  - {name: node1, address: 10.0.0.1, arch: x86_64}',
        '  - {name: node2, address: 10.0.0.2, arch: aarch64}',
        '  - {name: node3, address: 10.0.0.3, arch: arm64}',
        '  roleGroups:',
        '    etcd: [node1]',
        '    control-plane: [node1]',
        '    worker: [node2, node3]',
      ),
    )
    expect(config.hosts.map((host) => host.arch)).toEqual(['amd64', 'arm64', 'arm64'])
  })

  it('treats `key:` with no value as not set', () => {
    const { config } = load(singleNode('  kubernetes:', '    version:', '    containerManager:', '  network:', '  registry:', '    registryMirrors:'))
    expect(config.kubernetes.version).toBe('v1.23.17')
    expect(config.kubernetes.containerManagerDefaulted).toBe(true)
    expect(config.network.plugin).toBe('calico')
  })

  it('reads empty strings and zeros as "not set", like KubeKey (Go zero values)', () => {
    const text = clusterYaml(
      '  hosts:',
      '  - {name: node1, address: 10.0.0.1, port: 0, arch: "", user: ""}',
      '  roleGroups:',
      '    etcd: [node1]',
      '    control-plane: [node1]',
      '  controlPlaneEndpoint: {internalLoadbalancer: "", domain: "", port: 0}',
      '  kubernetes: {version: "", containerManager: "", proxyMode: "", maxPods: 0, podPidsLimit: 0}',
      '  etcd: {type: "", backupPeriod: 0, keepBackupNumber: 0}',
      '  network: {plugin: "", kubePodsCIDR: "", kubeServiceCIDR: ""}',
    )
    const { config } = load(text)
    expect(config.hosts[0]).toMatchObject({ port: 22, arch: 'amd64', user: 'root' })
    expect(config.controlPlaneEndpoint).toEqual({ domain: 'lb.kubesphere.local', address: '', port: 6443 })
    expect(config.kubernetes).toMatchObject({ version: 'v1.23.17', containerManager: 'docker', containerManagerDefaulted: true, proxyMode: 'ipvs', maxPods: 110, podPidsLimit: 10000 })
    expect(config.etcd).toMatchObject({ type: 'kubekey', backupPeriod: 1440, keepBackupNumber: 5 })
    expect(config.network).toMatchObject({ plugin: 'calico', kubePodsCIDR: '10.233.64.0/18', kubeServiceCIDR: '10.233.0.0/18' })
  })

  it('takes the IPv4 half of a dual-stack internalAddress as the SSH address', () => {
    const text = clusterYaml('  hosts:', '  - {name: node1, internalAddress: "10.0.0.1,fd00::1"}', '  roleGroups:', '    etcd: [node1]', '    control-plane: [node1]')
    expect(load(text).config.hosts[0]).toMatchObject({ address: '10.0.0.1', internalAddress: '10.0.0.1,fd00::1' })
  })

  it('keeps controlPlaneEndpoint and load balancer settings', () => {
    const { config } = load(singleNode('  controlPlaneEndpoint:', '    internalLoadbalancer: haproxy', '    domain: api.example.internal', '    port: 8443'))
    expect(config.controlPlaneEndpoint).toEqual({ internalLoadbalancer: 'haproxy', domain: 'api.example.internal', address: '', port: 8443 })
    const vip = load(singleNode('  controlPlaneEndpoint:', '    internalLoadbalancer: kube-vip', '    address: 10.0.0.100'))
    expect(vip.config.controlPlaneEndpoint).toMatchObject({ internalLoadbalancer: 'kube-vip', address: '10.0.0.100' })
  })
})

describe('roles', () => {
  it('treats master as an alias of control-plane and orders roles etcd, control-plane, worker', () => {
    const { config } = load(
      clusterYaml(
        '  hosts:',
        '  - {name: node1, address: 10.0.0.1}',
        '  - {name: node2, address: 10.0.0.2}',
        '  - {name: node3, address: 10.0.0.3}',
        '  roleGroups:',
        '    worker: [node3, node1]',
        '    master: [node2]',
        '    control-plane: [node1, node2]',
        '    etcd: [node1]',
      ),
    )
    expect(config.roleGroups).toEqual({ etcd: ['node1'], 'control-plane': ['node1', 'node2'], worker: ['node1', 'node3'] })
    expect(config.hosts.map((host) => host.roles)).toEqual([['etcd', 'control-plane', 'worker'], ['control-plane'], ['worker']])
  })

  it('allows a host without a role', () => {
    const { config } = load(
      clusterYaml('  hosts:', '  - {name: node1, address: 10.0.0.1}', '  - {name: spare, address: 10.0.0.9}', '  roleGroups:', '    etcd: [node1]', '    master: [node1]'),
    )
    expect(config.hosts[1].roles).toEqual([])
    expect(config.roleGroups.worker).toEqual([])
  })
})

describe('kk-action extensions', () => {
  it('reads componentVersions, without a leading v', () => {
    const { config } = load(singleNode('  componentVersions:', '    containerd: "1.7.13"', '    runc: v1.1.12', '    cri-dockerd: 0.3.10'))
    expect(config.componentVersions).toEqual({ containerd: '1.7.13', runc: '1.1.12', 'cri-dockerd': '0.3.10' })
  })

  it('gives every host spec.bastion unless the host has its own', () => {
    const { config, secrets } = load(
      clusterYaml(
        '  bastion: {address: bastion.example.com, user: jump, privateKeyPath: /keys/jump}',
        '  hosts:',
        '  - {name: node1, address: 10.0.0.1}',
        '  - {name: node2, address: 10.0.0.2, bastion: {address: 192.0.2.7, port: 2200, password: jump-pw}}',
        '  roleGroups:',
        '    etcd: [node1]',
        '    control-plane: [node1]',
        '    worker: [node2]',
      ),
    )
    expect(config.hosts[0].bastion).toEqual({ address: 'bastion.example.com', port: 22, user: 'jump', privateKeyPath: '/keys/jump' })
    expect(config.hosts[1].bastion).toEqual({ address: '192.0.2.7', port: 2200, user: 'root', password: 'jump-pw' })
    expect(secrets).toContain('jump-pw')
  })

  it('has no bastion when none is configured', () => {
    expect(load(singleNode()).config.hosts[0].bastion).toBeUndefined()
  })
})

describe('locate', () => {
  const text = clusterYaml(
    '  hosts:', //                                  line 6
    '  - {name: node1, address: 10.0.0.1}', //      line 7
    '  - name: node2', //                           line 8
    '    address: 10.0.0.2', //                     line 9
    '  roleGroups:', //                             line 10
    '    etcd: [node1]', //                         line 11
    '    control-plane: [node1]', //                line 12
    '    worker: [node2]', //                       line 13
    '  kubernetes:', //                             line 14
    '    version: v1.28.16', //                     line 15
  )

  it('maps a field path to the line and column of its value', () => {
    const result = load(text)
    expect(result.locate('spec.hosts[0].name')).toEqual({ line: 7, column: 12 })
    expect(result.locate('spec.hosts[1].address')).toEqual({ line: 9, column: 14 })
    expect(result.locate('spec.roleGroups.control-plane[0]')).toEqual({ line: 12, column: 21 })
    expect(result.locate('spec.kubernetes.version')).toEqual({ line: 15, column: 14 })
  })

  it('accepts paths without the spec. prefix, as plan errors write them', () => {
    expect(load(text).locate('kubernetes.version')).toEqual({ line: 15, column: 14 })
  })

  it('falls back to the nearest field that is written in the file', () => {
    const result = load(text)
    expect(result.locate('kubernetes.containerManager')).toEqual({ line: 14, column: 3 })
    expect(result.locate('spec.network.plugin')).toEqual({ line: 5, column: 1 })
    expect(result.locate('spec.roleGroups')).toEqual({ line: 10, column: 3 })
    expect(result.locate('not a path!')).toBeUndefined()
  })
})
