import { describe, expect, it } from 'vitest'
import { clusterYaml, expectRejected, loadError, singleNode } from './helpers.js'

// singleNode() puts hosts on lines 6-7 and roleGroups on lines 8-11; its extra spec lines start on line 12.

describe('kubernetes.containerManager', () => {
  it('rejects an unknown value, saying what is allowed', () => {
    expectRejected(singleNode('  kubernetes:', '    containerManager: rkt'), {
      line: 13,
      column: 23,
      field: 'spec.kubernetes.containerManager',
      says: ['"rkt" is not supported', 'allowed: containerd, docker'],
    })
  })

  it.each(['crio', 'isula'])('says %s is KubeKey-only', (manager) => {
    expectRejected(singleNode('  kubernetes:', `    containerManager: ${manager}`), {
      line: 13,
      column: 23,
      field: 'spec.kubernetes.containerManager',
      says: [`"${manager}" is supported by KubeKey but not by kk-action`, 'allowed: containerd, docker'],
    })
  })
})

describe('kubernetes.version', () => {
  it('rejects a version without the leading v, as KubeKey does', () => {
    expectRejected(singleNode('  kubernetes:', '    version: 1.28.16'), {
      line: 13,
      column: 14,
      field: 'spec.kubernetes.version',
      says: ['"1.28.16" lacks the leading "v"', 'write v1.28.16'],
    })
  })

  it('rejects a version YAML reads as a number, and says to quote it', () => {
    expectRejected(singleNode('  kubernetes:', '    version: 1.30'), {
      line: 13,
      column: 14,
      field: 'spec.kubernetes.version',
      says: ['expected a string, got number 1.3', 'Quote it'],
    })
  })

  it.each([
    ['v1.28', /is not a Kubernetes version: use vX\.Y\.Z/],
    ['latest', /is not a Kubernetes version/],
    ['v1.21.4-k3s', /distribution or pre-release \("k3s"\)/],
  ])('rejects %s', (version, says) => {
    expectRejected(singleNode('  kubernetes:', `    version: ${version}`), { line: 13, column: 14, field: 'spec.kubernetes.version', says: [says] })
  })
})

describe('network', () => {
  it.each([
    ['kubePodsCIDR', '10.233.64.0/33', '"10.233.64.0/33" is not a CIDR'],
    ['kubePodsCIDR', '10.233.64.0', '"10.233.64.0" is not a CIDR'],
    ['kubeServiceCIDR', '300.1.0.0/18', '"300.1.0.0/18" is not a CIDR'],
    ['kubeServiceCIDR', 'fd00::/129', '"fd00::/129" is not a CIDR'],
    ['kubePodsCIDR', '"10.233.64.0/18,fd00::zz/112"', '"fd00::zz/112" is not a CIDR'],
    ['kubePodsCIDR', '"fd00::/112,10.233.64.0/18"', 'give the IPv4 CIDR first, then the IPv6 CIDR'],
    ['kubePodsCIDR', '"10.233.64.0/18,10.234.0.0/18"', 'is not a dual-stack pair'],
    ['kubePodsCIDR', '"10.0.0.0/8,fd00::/64,fd01::/64"', 'has 3 CIDRs'],
  ])('rejects %s %s', (field, value, says) => {
    expectRejected(singleNode('  network:', `    ${field}: ${value}`), {
      line: 13,
      column: 7 + field.length,
      field: `spec.network.${field}`,
      says: [says],
    })
  })

  it.each(['kube-ovn', 'hybridnet'])('says the network plugin %s is KubeKey-only', (plugin) => {
    expectRejected(singleNode('  network:', `    plugin: ${plugin}`), {
      line: 13,
      column: 13,
      field: 'spec.network.plugin',
      says: [`"${plugin}" is supported by KubeKey but not by kk-action`, 'allowed: calico, flannel, cilium, none'],
    })
  })

  it('rejects an unknown network plugin', () => {
    expectRejected(singleNode('  network:', '    plugin: weave'), { line: 13, column: 13, field: 'spec.network.plugin', says: ['"weave" is not supported'] })
  })
})

describe('hosts', () => {
  it('rejects duplicate host names at the second one, naming the first', () => {
    const text = clusterYaml(
      '  hosts:',
      '  - {name: node1, address: 10.0.0.1}',
      '  - {name: node2, address: 10.0.0.2}',
      '  - {name: node1, address: 10.0.0.3}',
      '  roleGroups:',
      '    etcd: [node1]',
      '    control-plane: [node1]',
    )
    expectRejected(text, {
      line: 9,
      column: 12,
      field: 'spec.hosts[2].name',
      host: 'node1',
      says: ['duplicate host name "node1", already used by spec.hosts[0] (line 7)'],
    })
  })

  it.each(['Node1', 'node_1', '-node1', 'node1-', 'node 1'])('rejects %j, which is not an RFC 1123 node name', (name) => {
    const text = clusterYaml('  hosts:', `  - {name: "${name}", address: 10.0.0.1}`, '  roleGroups:', '    control-plane: [node1]')
    expectRejected(text, { line: 7, column: 12, field: 'spec.hosts[0].name', host: name, says: ['is not a valid Kubernetes node name', 'RFC 1123'] })
  })

  it('rejects a host name longer than 253 characters', () => {
    const name = `${'a'.repeat(63)}.`.repeat(4).slice(0, 254)
    const text = clusterYaml('  hosts:', `  - {name: ${name}, address: 10.0.0.1}`, '  roleGroups:', '    control-plane: [node1]')
    expectRejected(text, { line: 7, column: 12, field: 'spec.hosts[0].name', host: name, says: ['at most 253 characters'] })
  })

  it('rejects a host without a name', () => {
    const text = clusterYaml('  hosts:', '  - {address: 10.0.0.1}', '  roleGroups:', '    control-plane: [node1]')
    expectRejected(text, { line: 7, column: 5, field: 'spec.hosts[0].name', says: ['is required'] })
  })

  it('rejects a host without any address', () => {
    const text = clusterYaml('  hosts:', '  - name: node1', '    user: ubuntu', '  roleGroups:', '    control-plane: [node1]')
    expectRejected(text, { line: 7, column: 5, field: 'spec.hosts[0]', host: 'node1', says: ['has no address', 'each defaults to the other'] })
  })

  it('rejects an unknown arch', () => {
    const text = clusterYaml('  hosts:', '  - {name: node1, address: 10.0.0.1, arch: ppc64le}', '  roleGroups:', '    control-plane: [node1]')
    expectRejected(text, {
      line: 7,
      column: 44,
      field: 'spec.hosts[0].arch',
      host: 'node1',
      says: ['"ppc64le" is not supported; allowed: amd64, arm64, x86_64, aarch64'],
    })
  })

  it('rejects a quoted port, naming the host', () => {
    const text = clusterYaml('  hosts:', '  - name: node1', '    address: 10.0.0.1', '    port: "2222"', '  roleGroups:', '    control-plane: [node1]')
    expectRejected(text, { line: 9, column: 11, field: 'spec.hosts[0].port', host: 'node1', says: ['expected a number, got the string "2222"', 'Remove the quotes: 2222'] })
  })

  it('rejects a port out of range', () => {
    const text = clusterYaml('  hosts:', '  - {name: node1, address: 10.0.0.1, port: 70000}', '  roleGroups:', '    control-plane: [node1]')
    expectRejected(text, { line: 7, column: 44, field: 'spec.hosts[0].port', host: 'node1', says: ['must be at most 65535, got number 70000'] })
  })

  it('rejects hosts written as a plain list of names', () => {
    const text = clusterYaml('  hosts:', '  - node1', '  roleGroups:', '    control-plane: [node1]')
    expectRejected(text, { line: 7, column: 5, field: 'spec.hosts[0]', says: ['expected a mapping (key: value), got the string "node1"'] })
  })

  it('rejects an empty host list', () => {
    expectRejected(clusterYaml('  hosts: []', '  roleGroups:', '    control-plane: [node1]'), {
      line: 6,
      column: 3,
      field: 'spec.hosts',
      says: ['at least one host is required'],
    })
  })
})

describe('roleGroups', () => {
  it('rejects a role group naming a host not in hosts, and names it', () => {
    const text = clusterYaml('  hosts:', '  - {name: node1, address: 10.0.0.1}', '  roleGroups:', '    etcd: [node1]', '    control-plane: [node1]', '    worker:', '    - node1', '    - node7')
    expectRejected(text, {
      line: 13,
      column: 7,
      field: 'spec.roleGroups.worker[1]',
      host: 'node7',
      says: ['host "node7" is in role group worker but not in spec.hosts'],
    })
  })

  it('rejects a range reaching a host not in hosts, and names that host', () => {
    const text = clusterYaml(
      '  hosts:',
      '  - {name: node1, address: 10.0.0.1}',
      '  - {name: node2, address: 10.0.0.2}',
      '  roleGroups:',
      '    etcd: [node1]',
      '    master: ["node[1:3]"]',
    )
    expectRejected(text, {
      line: 11,
      column: 14,
      field: 'spec.roleGroups.master[0]',
      host: 'node3',
      says: ['host "node3" (from the range "node[1:3]") is in role group master but not in spec.hosts'],
    })
  })

  it.each([
    ['node[a:3]', 'is not a host range'],
    ['node[1-3]', 'is not a host range'],
    ['node[1:3', 'is not a host range'],
    ['node[1:3]x', 'is not a host range'],
    ['node[1:2:3]', 'is not a host range'],
    ['node[3:1]', 'is an empty range: the start (3) is greater than the end (1)'],
  ])('rejects the malformed range %s', (range, says) => {
    const text = clusterYaml('  hosts:', '  - {name: node1, address: 10.0.0.1}', '  roleGroups:', '    etcd: [node1]', '    control-plane:', `    - "${range}"`)
    expectRejected(text, { line: 11, column: 7, field: 'spec.roleGroups.control-plane[0]', says: [`"${range}" ${says}`] })
  })

  it('rejects a config without a control-plane host', () => {
    const text = clusterYaml('  hosts:', '  - {name: node1, address: 10.0.0.1}', '  roleGroups:', '    etcd: [node1]', '    worker: [node1]')
    expectRejected(text, { line: 8, column: 3, field: 'spec.roleGroups', says: ['no control-plane host', 'control-plane (or its alias master)'] })
  })

  it('rejects a config without roleGroups', () => {
    const text = clusterYaml('  hosts:', '  - {name: node1, address: 10.0.0.1}')
    expectRejected(text, { line: 5, column: 1, field: 'spec.roleGroups', says: ['is required'] })
  })

  it('rejects kubekey etcd without an etcd host', () => {
    const text = clusterYaml('  hosts:', '  - {name: node1, address: 10.0.0.1}', '  roleGroups:', '    control-plane: [node1]', '    etcd: []')
    expectRejected(text, { line: 10, column: 5, field: 'spec.roleGroups.etcd', says: ['no etcd host, but etcd.type is kubekey', 'kubeadm (stacked etcd) or external'] })
  })

  it('accepts no etcd host when etcd is stacked (kubeadm)', () => {
    const text = clusterYaml('  hosts:', '  - {name: node1, address: 10.0.0.1}', '  roleGroups:', '    control-plane: [node1]', '  etcd:', '    type: kubeadm')
    expect(() => loadError(text)).toThrow('expected the config to be rejected')
  })
})

describe('etcd', () => {
  it('rejects type external without endpoints, at the endpoints', () => {
    expectRejected(singleNode('  etcd:', '    type: external', '    external:', '      endpoints: []'), {
      line: 15,
      column: 7,
      field: 'spec.etcd.external.endpoints',
      says: ['etcd.type is external but no etcd endpoints are given'],
    })
  })

  it('rejects type external without an external section, at the type', () => {
    expectRejected(singleNode('  etcd:', '    type: external'), { line: 13, column: 11, field: 'spec.etcd.type', says: ['no etcd endpoints'] })
  })

  it('rejects an unknown etcd type', () => {
    expectRejected(singleNode('  etcd:', '    type: k3s'), { line: 13, column: 11, field: 'spec.etcd.type', says: ['"k3s" is not supported; allowed: kubekey, kubeadm, external'] })
  })
})

describe('controlPlaneEndpoint', () => {
  it('rejects haproxy together with an address, as KubeKey does', () => {
    expectRejected(singleNode('  controlPlaneEndpoint:', '    internalLoadbalancer: haproxy', '    address: 10.0.0.100'), {
      line: 14,
      column: 14,
      field: 'spec.controlPlaneEndpoint.address',
      says: ['address "10.0.0.100" is set together with internalLoadbalancer haproxy'],
    })
  })

  it('rejects kube-vip without a virtual IP', () => {
    expectRejected(singleNode('  controlPlaneEndpoint:', '    internalLoadbalancer: kube-vip'), {
      line: 12,
      column: 3,
      field: 'spec.controlPlaneEndpoint.address',
      says: ['kube-vip needs a virtual IP in address'],
    })
  })

  it('rejects an unknown internal load balancer', () => {
    expectRejected(singleNode('  controlPlaneEndpoint:', '    internalLoadbalancer: nginx'), {
      line: 13,
      column: 27,
      field: 'spec.controlPlaneEndpoint.internalLoadbalancer',
      says: ['allowed: haproxy, kube-vip'],
    })
  })
})

describe('other fields', () => {
  it('rejects an unknown proxyMode', () => {
    expectRejected(singleNode('  kubernetes:', '    proxyMode: nftables'), { line: 13, column: 16, field: 'spec.kubernetes.proxyMode', says: ['allowed: ipvs, iptables'] })
  })

  it('rejects a feature gate that is not true/false', () => {
    expectRejected(singleNode('  kubernetes:', '    featureGates:', '      RotateKubeletServerCertificate: "yes"'), {
      line: 14,
      column: 39,
      field: 'spec.kubernetes.featureGates.RotateKubeletServerCertificate',
      says: ['expected true or false, got the string "yes"'],
    })
  })

  it('rejects an unknown component in componentVersions, at its key', () => {
    expectRejected(singleNode('  componentVersions:', '    kubelet: 1.30.1'), {
      line: 13,
      column: 5,
      field: 'spec.componentVersions.kubelet',
      says: ['unknown component "kubelet"', 'follows spec.kubernetes.version'],
    })
  })

  it('rejects a component version that is not X.Y.Z', () => {
    expectRejected(singleNode('  componentVersions:', '    containerd: latest'), {
      line: 13,
      column: 17,
      field: 'spec.componentVersions.containerd',
      says: ['"latest" is not a version'],
    })
  })

  it('reports the first problem in file order and counts the rest', () => {
    const error = expectRejected(singleNode('  kubernetes:', '    version: v1', '  network:', '    plugin: weave'), {
      line: 13,
      column: 14,
      field: 'spec.kubernetes.version',
      says: ['(and 1 more problem after it)'],
    })
    expect(error.message).not.toContain('weave')
  })
})
