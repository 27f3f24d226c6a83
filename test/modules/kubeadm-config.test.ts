/** The kubeadm documents kk-action writes, validated against the kubeadm API schema of each version (test/kubeadm-schema). */
import { describe, expect, it } from 'vitest'
import { parse, parseAllDocuments } from 'yaml'
import type { ClusterConfig } from '../../src/config/types.js'
import {
  criSocket, initDocuments, kubeadmApiVersion, renderInitConfig, renderJoinConfig, type ExternalEtcd, type JoinCredentials,
} from '../../src/modules/kubeadm-config.js'
import { validateKubeadmFile } from '../kubeadm-schema/index.js'
import { makeConfig } from '../plan/make-config.js'

const etcd: ExternalEtcd = {
  endpoints: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379', 'https://10.0.0.3:2379'],
  caFile: '/etc/ssl/etcd/ssl/ca.pem', certFile: '/etc/ssl/etcd/ssl/node-node1.pem', keyFile: '/etc/ssl/etcd/ssl/node-node1-key.pem',
}
const credentials: JoinCredentials = {
  apiServerEndpoint: 'lb.kubesphere.local:6443',
  token: 'abcdef.0123456789abcdef',
  caCertHash: `sha256:${'a1'.repeat(32)}`,
  certificateKey: 'b2'.repeat(32),
}

/** A config that uses every field the documents are made from. */
function richConfig(version: string): ClusterConfig {
  const config = makeConfig({ version, controlPlanes: 3, workers: 2 })
  config.hosts[0].roles.push('worker')
  config.controlPlaneEndpoint.address = '192.168.0.100'
  config.kubernetes.apiserverCertExtraSans = ['api.example.com', '203.0.113.7']
  config.kubernetes.featureGates = { RotateKubeletServerCertificate: true, SomeAlpha: false }
  config.kubernetes.maxPods = 200
  config.kubernetes.podPidsLimit = 4096
  config.kubernetes.proxyMode = 'iptables'
  config.kubernetes.dnsDomain = 'corp.local'
  config.kubernetes.extra = {
    apiserverArgs: ['service-node-port-range=30000-40000', '--audit-log-maxage=30'],
    controllerManagerArgs: ['terminated-pod-gc-threshold=100'],
    schedulerArgs: ['v=2'],
    kubeletArgs: ['--v=3'],
    nodeCidrMaskSize: 25,
    masqueradeAll: true,
    kubeletConfiguration: { maxPods: 250, evictionHard: { 'memory.available': '5%' }, kind: 'Other' },
    kubeProxyConfiguration: { iptables: { syncPeriod: '30s' } },
  }
  config.registry.privateRegistry = 'registry.example.com:5000'
  config.network.kubePodsCIDR = '10.244.0.0/16'
  config.network.kubeServiceCIDR = '10.96.0.0/12'
  return config
}

/** A parsed document, as loosely typed as yaml's own parse(). */
type Parsed = ReturnType<typeof parse>

function documents(text: string): Parsed[] {
  return parseAllDocuments(text).map((d) => d.toJS() as Parsed)
}

function byKind(text: string, kind: string): Parsed {
  return documents(text).find((d) => d.kind === kind)!
}

describe('kubeadm API version', () => {
  it('v1beta4 from 1.31, v1beta3 from 1.22, v1beta2 before', () => {
    expect(kubeadmApiVersion('v1.33.1')).toBe('kubeadm.k8s.io/v1beta4')
    expect(kubeadmApiVersion('v1.31.0')).toBe('kubeadm.k8s.io/v1beta4')
    expect(kubeadmApiVersion('v1.30.14')).toBe('kubeadm.k8s.io/v1beta3')
    expect(kubeadmApiVersion('v1.22.0')).toBe('kubeadm.k8s.io/v1beta3')
    expect(kubeadmApiVersion('v1.21.14')).toBe('kubeadm.k8s.io/v1beta2')
  })
})

describe.each(['v1.20.2', 'v1.23.17', 'v1.30.1', 'v1.31.2', 'v1.33.1'])('kubeadm documents for %s', (version) => {
  const api = kubeadmApiVersion(version)

  it('init: every document is valid for its API version, with all config fields in use', () => {
    const text = renderInitConfig(richConfig(version), richConfig(version).hosts[0], etcd)
    expect(validateKubeadmFile(text)).toEqual([])
    expect(documents(text).map((d) => `${d.apiVersion} ${d.kind}`)).toEqual([
      `${api} InitConfiguration`, `${api} ClusterConfiguration`,
      'kubelet.config.k8s.io/v1beta1 KubeletConfiguration', 'kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration',
    ])
  })

  it('init with stacked etcd (etcd.type kubeadm) and the defaults of a minimal config is valid', () => {
    const config = makeConfig({ version, etcd: 'kubeadm' })
    const text = renderInitConfig(config, config.hosts[0])
    expect(validateKubeadmFile(text)).toEqual([])
    expect(byKind(text, 'ClusterConfiguration').etcd).toEqual({ local: { dataDir: '/var/lib/etcd' } })
  })

  it('join: workers and control planes are valid; only control planes carry controlPlane and the certificate key', () => {
    const config = richConfig(version)
    const worker = renderJoinConfig(config, config.hosts[3], credentials, false)
    const controlPlane = renderJoinConfig(config, config.hosts[1], credentials, true)
    expect(validateKubeadmFile(worker)).toEqual([])
    expect(validateKubeadmFile(controlPlane)).toEqual([])
    expect(byKind(worker, 'JoinConfiguration').controlPlane).toBeUndefined()
    expect(byKind(controlPlane, 'JoinConfiguration')).toMatchObject({
      apiVersion: api,
      discovery: { bootstrapToken: { apiServerEndpoint: 'lb.kubesphere.local:6443', token: credentials.token, caCertHashes: [credentials.caCertHash] } },
      nodeRegistration: { name: 'node2', criSocket: 'unix:///run/containerd/containerd.sock' },
      controlPlane: { localAPIEndpoint: { advertiseAddress: '10.0.0.2', bindPort: 6443 }, certificateKey: credentials.certificateKey },
    })
  })
})

describe('the schema catches what kubeadm would reject', () => {
  const config = richConfig('v1.31.2')
  const v1beta4 = renderInitConfig(config, config.hosts[0], etcd)

  it('v1beta3-style extraArgs (a map) under v1beta4', () => {
    const mixed = v1beta4.replace('kubeadm.k8s.io/v1beta4', 'kubeadm.k8s.io/v1beta3')
    expect(validateKubeadmFile(mixed)).toContainEqual(expect.stringMatching(/^InitConfiguration: nodeRegistration\.kubeletExtraArgs: /))
  })

  it('an unknown field, and apiServer.timeoutForControlPlane that v1beta4 dropped', () => {
    const text = v1beta4.replace('certSANs:', 'timeoutForControlPlane: 4m0s\n  certSans:')
    const problems = validateKubeadmFile(text)
    expect(problems.join('\n')).toMatch(/ClusterConfiguration: apiServer: Unrecognized keys?: "timeoutForControlPlane", "certSans"/)
  })
})

describe('what the documents say', () => {
  const config = richConfig('v1.31.2')
  const text = renderInitConfig(config, config.hosts[0], etcd)
  const cluster = byKind(text, 'ClusterConfiguration')
  const init = byKind(text, 'InitConfiguration')

  it('cluster identity, endpoint, networks and the private registry', () => {
    expect(cluster).toMatchObject({
      kubernetesVersion: 'v1.31.2',
      clusterName: 'cluster.local',
      controlPlaneEndpoint: 'lb.kubesphere.local:6443',
      networking: { dnsDomain: 'corp.local', podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12' },
      imageRepository: 'registry.example.com:5000/kubesphere',
      // KubeKey's layout: coredns/coredns:<tag without v>; kubeadm would otherwise pull <registry>/kubesphere/coredns.
      dns: { imageRepository: 'registry.example.com:5000/coredns', imageTag: '1.9.3' },
      etcd: { external: etcd },
    })
  })

  it('stacked etcd from a private registry: etcd.local names KubeKey\'s etcd image, tagged with the plan\'s etcd', () => {
    const stacked = richConfig('v1.31.2')
    stacked.etcd.type = 'kubeadm'
    const doc = byKind(renderInitConfig(stacked, stacked.hosts[0]), 'ClusterConfiguration')
    expect(doc.etcd).toEqual({ local: { dataDir: '/var/lib/etcd', imageRepository: 'registry.example.com:5000/kubesphere', imageTag: 'v3.5.33' } })
    expect(validateKubeadmFile(renderInitConfig(stacked, stacked.hosts[0]))).toEqual([])
  })

  it('certSANs: extra SANs, the endpoint domain and address, every control plane by name and address', () => {
    expect(cluster.apiServer.certSANs).toEqual(expect.arrayContaining([
      'api.example.com', '203.0.113.7', 'lb.kubesphere.local', '192.168.0.100', 'node1', 'node2', 'node3', '10.0.0.1', '10.0.0.2', '10.0.0.3',
      'kubernetes.default.svc.corp.local',
    ]))
    expect(cluster.apiServer.certSANs).not.toContain('node4')
    expect(new Set(cluster.apiServer.certSANs).size).toBe(cluster.apiServer.certSANs.length)
  })

  it('extra args as {name, value} lists, feature gates on every component, leading dashes dropped', () => {
    const gates = { name: 'feature-gates', value: 'RotateKubeletServerCertificate=true,SomeAlpha=false' }
    expect(cluster.apiServer.extraArgs).toEqual([gates, { name: 'service-node-port-range', value: '30000-40000' }, { name: 'audit-log-maxage', value: '30' }])
    expect(cluster.controllerManager.extraArgs).toEqual([gates, { name: 'node-cidr-mask-size', value: '25' }, { name: 'terminated-pod-gc-threshold', value: '100' }])
    expect(cluster.scheduler.extraArgs).toEqual([gates, { name: 'v', value: '2' }])
    expect(init.nodeRegistration.kubeletExtraArgs).toEqual([{ name: 'node-ip', value: '10.0.0.1' }, { name: 'v', value: '3' }])
  })

  it('v1beta3 takes the same args as maps', () => {
    const old = richConfig('v1.30.1')
    const oldCluster = byKind(renderInitConfig(old, old.hosts[0], etcd), 'ClusterConfiguration')
    expect(oldCluster.apiServer.extraArgs).toEqual({
      'feature-gates': 'RotateKubeletServerCertificate=true,SomeAlpha=false', 'service-node-port-range': '30000-40000', 'audit-log-maxage': '30',
    })
  })

  it('init: advertise address, node name, CRI socket; a control plane that is a worker is not tainted', () => {
    expect(init.localAPIEndpoint).toEqual({ advertiseAddress: '10.0.0.1', bindPort: 6443 })
    expect(init.nodeRegistration).toMatchObject({ name: 'node1', criSocket: 'unix:///run/containerd/containerd.sock', taints: [] })
    const join = byKind(renderJoinConfig(config, config.hosts[1], credentials, true), 'JoinConfiguration')
    expect(join.nodeRegistration.taints).toBeUndefined()
  })

  it('kubelet: systemd cgroups, maxPods, podPidsLimit, gates, and the pass-through merged over them (its kind kept)', () => {
    expect(byKind(text, 'KubeletConfiguration')).toMatchObject({
      apiVersion: 'kubelet.config.k8s.io/v1beta1', cgroupDriver: 'systemd', maxPods: 250, podPidsLimit: 4096, clusterDomain: 'corp.local',
      evictionHard: { 'memory.available': '5%' }, featureGates: { RotateKubeletServerCertificate: true, SomeAlpha: false },
    })
    expect(documents(text).filter((d) => d.kind === 'Other')).toEqual([])
  })

  it('kube-proxy: mode, cluster CIDR, masqueradeAll, with the pass-through merged into iptables', () => {
    expect(byKind(text, 'KubeProxyConfiguration')).toMatchObject({
      mode: 'iptables', clusterCIDR: '10.244.0.0/16', iptables: { masqueradeAll: true, syncPeriod: '30s' },
    })
  })

  it('disableKubeProxy skips the kube-proxy addon phase', () => {
    const noProxy = makeConfig({ version: 'v1.30.1' })
    noProxy.kubernetes.extra.disableKubeProxy = true
    const doc = initDocuments(noProxy, noProxy.hosts[0], etcd)[0]
    expect(doc.skipPhases).toEqual(['addon/kube-proxy'])
    expect(validateKubeadmFile(renderInitConfig(noProxy, noProxy.hosts[0], etcd))).toEqual([])
  })

  it('an arg without "=" is a config error naming the field', () => {
    const bad = makeConfig({ version: 'v1.30.1' })
    bad.kubernetes.extra.apiserverArgs = ['ok=1', 'oops']
    expect(() => renderInitConfig(bad, bad.hosts[0], etcd)).toThrow(/spec\.kubernetes\.apiserverArgs\[1\] "oops" is not of the form name=value/)
  })

  it('the same config renders the same bytes', () => {
    expect(renderInitConfig(richConfig('v1.31.2'), richConfig('v1.31.2').hosts[0], etcd)).toBe(text)
    expect(parse(text.split('---\n')[1])).toEqual(init)
  })
})

describe('CRI socket', () => {
  it('containerd; cri-dockerd for docker from 1.24; dockershim before; containerRuntimeEndpoint wins', () => {
    expect(criSocket(makeConfig({ containerManager: 'containerd' }))).toBe('unix:///run/containerd/containerd.sock')
    expect(criSocket(makeConfig({ containerManager: 'docker', version: 'v1.24.17' }))).toBe('unix:///run/cri-dockerd.sock')
    // kubeadm before 1.24 recognises dockershim only by this exact string; unix:// makes it a remote CRI.
    expect(criSocket(makeConfig({ containerManager: 'docker', version: 'v1.23.17' }))).toBe('/var/run/dockershim.sock')
    expect(criSocket(makeConfig({ containerManager: 'docker', version: 'v1.20.2' }))).toBe('/var/run/dockershim.sock')
    const shim = makeConfig({ containerManager: 'docker', version: 'v1.21.14' })
    shim.kubernetes.extra.containerRuntimeEndpoint = 'unix:///var/run/dockershim.sock'
    expect(criSocket(shim)).toBe('/var/run/dockershim.sock')
    const custom = makeConfig()
    custom.kubernetes.extra.containerRuntimeEndpoint = '/run/k3s/containerd/containerd.sock'
    expect(criSocket(custom)).toBe('unix:///run/k3s/containerd/containerd.sock')
  })
})
