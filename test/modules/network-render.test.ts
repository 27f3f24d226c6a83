import { describe, expect, it } from 'vitest'
import { networkRelease } from '../../src/modules/network-render.js'
import type { ClusterConfig } from '../../src/config/types.js'
import { makeConfig } from '../plan/make-config.js'

const withNetwork = (extra: Record<string, unknown>, overrides: { kubePodsCIDR?: string; privateRegistry?: string } = {}) => {
  const config = makeConfig()
  return {
    ...config,
    network: { ...config.network, kubePodsCIDR: overrides.kubePodsCIDR ?? '10.99.0.0/16', extra },
    registry: { ...config.registry, ...(overrides.privateRegistry ? { privateRegistry: overrides.privateRegistry } : {}) },
  }
}

type CalicoValues = { installation: { calicoNetwork: { bgp: string; mtu?: number; ipPools: Array<Record<string, unknown>>; nodeAddressAutodetectionV4?: unknown }; registry?: string } }
const calico = (settings: Record<string, unknown>) => networkRelease(withNetwork({ calico: settings }), 'calico').values as CalicoValues

describe('calico (tigera-operator chart)', () => {
  it('one pool on the pod CIDR with KubeKey\'s default IPIP Always, BGP on, NAT outgoing', () => {
    const network = calico({}).installation.calicoNetwork
    expect(network.ipPools).toEqual([{ cidr: '10.99.0.0/16', encapsulation: 'IPIP', natOutgoing: 'Enabled', nodeSelector: 'all()' }])
    expect(network.bgp).toBe('Enabled')
  })

  it.each([
    [{ ipipMode: 'CrossSubnet' }, 'IPIPCrossSubnet', 'Enabled'],
    [{ ipipMode: 'Never', vxlanMode: 'Always' }, 'VXLAN', 'Disabled'],
    [{ ipipMode: 'Never', vxlanMode: 'CrossSubnet' }, 'VXLANCrossSubnet', 'Disabled'],
    [{ ipipMode: 'Never', vxlanMode: 'Never' }, 'None', 'Enabled'],
  ])('modes %o become encapsulation %s, BGP %s', (modes, encapsulation, bgp) => {
    const network = calico(modes).installation.calicoNetwork
    expect(network.ipPools[0].encapsulation).toBe(encapsulation)
    expect(network.bgp).toBe(bgp)
  })

  it('vethMTU, ipv4NatOutgoing and ipAutoDetectionMethod carry over', () => {
    const network = calico({ vethMTU: 1440, ipv4NatOutgoing: false, ipAutoDetectionMethod: 'interface=eth.*' }).installation.calicoNetwork
    expect(network.mtu).toBe(1440)
    expect(network.ipPools[0].natOutgoing).toBe('Disabled')
    expect(network.nodeAddressAutodetectionV4).toEqual({ interface: 'eth.*' })
    expect(calico({ ipAutoDetectionMethod: 'can-reach=10.0.0.1' }).installation.calicoNetwork.nodeAddressAutodetectionV4).toEqual({ canReach: '10.0.0.1' })
  })

  it('a private registry (scheme and trailing slash dropped, as for every image) serves calico\'s images and the operator\'s', () => {
    const config = withNetwork({}, { privateRegistry: 'https://registry.corp:5000/' })
    const release = networkRelease({ ...config, registry: { ...config.registry, namespaceOverride: 'mirrored' } }, 'calico')
    expect((release.values as CalicoValues).installation).toMatchObject({ registry: 'registry.corp:5000/', imagePath: 'mirrored' })
    expect(release.values.tigeraOperator).toEqual({ registry: 'registry.corp:5000' })
  })

  it('is the network alone, as KubeKey\'s calico: no API server, goldmane or whisker', () => {
    const values = networkRelease(withNetwork({}), 'calico').values
    for (const part of ['apiServer', 'goldmane', 'whisker']) expect(values[part]).toEqual({ enabled: false })
  })

  it('refuses unknown modes, both encapsulations at once and unknown detection methods, naming the field', () => {
    expect(() => calico({ ipipMode: 'Sometimes' })).toThrow(/ipipMode/)
    expect(() => calico({ vxlanMode: 'Always' })).toThrow(/vxlanMode/)
    expect(() => calico({ ipAutoDetectionMethod: 'guess' })).toThrow(/ipAutoDetectionMethod/)
  })

  it('awaits the operator, then the workloads it creates in calico-system', () => {
    const release = networkRelease(withNetwork({}), 'calico')
    expect(release.workloads.map((w) => `${w.namespace}/${w.kind}/${w.name}`)).toEqual([
      'tigera-operator/deployment/tigera-operator', 'calico-system/daemonset/calico-node', 'calico-system/deployment/calico-kube-controllers'])
  })
})

describe('flannel', () => {
  it('carries the pod CIDR and the backend mode, in a privileged namespace', () => {
    const release = networkRelease(withNetwork({ flannel: { backendMode: 'host-gw' } }), 'flannel')
    expect(release.values).toEqual({ podCidr: '10.99.0.0/16', flannel: { backend: 'host-gw' } })
    expect(release.privilegedNamespace).toBe(true)
    expect(() => networkRelease(withNetwork({ flannel: { backendMode: 'udp-ish' } }), 'flannel')).toThrow(/backendMode/)
  })
})

describe('cilium', () => {
  it('cluster-pool IPAM on the IPv4 part of a dual-stack pod CIDR', () => {
    const values = networkRelease(withNetwork({}, { kubePodsCIDR: '10.99.0.0/16,fd00::/56' }), 'cilium').values as { ipam: { operator: Record<string, unknown> } }
    expect(values.ipam.operator.clusterPoolIPv4PodCIDRList).toEqual(['10.99.0.0/16'])
  })

  it('no IPv4 pod CIDR is an error naming kubePodsCIDR', () => {
    expect(() => networkRelease(withNetwork({}, { kubePodsCIDR: 'fd00::/56' }), 'cilium')).toThrow(/kubePodsCIDR/)
  })

  it('one operator replica per Kubernetes node, at most two (a second on one node would never schedule)', () => {
    const replicas = (config: ReturnType<typeof makeConfig>) => (networkRelease(config, 'cilium').values as { operator: { replicas: number } }).operator.replicas
    const single = makeConfig({ controlPlanes: 1, workers: 0 })
    const etcdHost = { ...single.hosts[0], name: 'etcd1', address: '10.0.0.99', internalAddress: '10.0.0.99', roles: ['etcd' as const] }
    expect(replicas({ ...single, hosts: [...single.hosts, etcdHost] })).toBe(1)
    expect(replicas(makeConfig({ controlPlanes: 1, workers: 3 }))).toBe(2)
  })
})

describe('kubernetes.disableKubeProxy: the plugin routes Services and reaches the API server directly', () => {
  const noKubeProxy = (): ClusterConfig => {
    const config = withNetwork({})
    return { ...config, kubernetes: { ...config.kubernetes, extra: { disableKubeProxy: true } } }
  }

  it('cilium replaces kube-proxy and talks to the control-plane endpoint', () => {
    expect(networkRelease(noKubeProxy(), 'cilium').values).toMatchObject({ kubeProxyReplacement: 'true', k8sServiceHost: 'lb.kubesphere.local', k8sServicePort: 6443 })
    expect(networkRelease(withNetwork({}), 'cilium').values).not.toHaveProperty('kubeProxyReplacement')
  })

  it('calico runs its eBPF data plane and gets the kubernetes-services-endpoint ConfigMap in tigera-operator, applied before the chart', () => {
    const release = networkRelease(noKubeProxy(), 'calico')
    expect((release.values as { installation: { calicoNetwork: Record<string, unknown> } }).installation.calicoNetwork.linuxDataplane).toBe('BPF')
    expect(release.manifests).toEqual([{
      name: 'kubernetes-services-endpoint',
      object: {
        apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kubernetes-services-endpoint', namespace: 'tigera-operator' },
        data: { KUBERNETES_SERVICE_HOST: 'lb.kubesphere.local', KUBERNETES_SERVICE_PORT: '6443' },
      },
    }])
    const withProxy = networkRelease(withNetwork({}), 'calico')
    expect(withProxy.manifests).toEqual([])
    expect((withProxy.values as { installation: { calicoNetwork: Record<string, unknown> } }).installation.calicoNetwork).not.toHaveProperty('linuxDataplane')
  })

  it('flannel cannot work without kube-proxy: refused, naming disableKubeProxy', () => {
    expect(() => networkRelease(noKubeProxy(), 'flannel')).toThrow(/spec\.kubernetes\.disableKubeProxy: network\.plugin flannel needs kube-proxy/)
  })
})

describe('cilium values against the chart\'s values.schema.json (helm refuses values that do not match it)', () => {
  // The types of the keys kk-action sets, as cilium's install/kubernetes/cilium/values.schema.json declares them.
  // This check is the test's, not the helm double's: the double has no copy of the chart's schema.
  const SCHEMA: Record<string, string[]> = {
    'ipam.mode': ['string'],
    'ipam.operator.clusterPoolIPv4PodCIDRList': ['array', 'string'],
    'ipam.operator.clusterPoolIPv4MaskSize': ['integer'],
    'operator.replicas': ['integer'],
    kubeProxyReplacement: ['string', 'boolean'],
    k8sServiceHost: ['string'],
    k8sServicePort: ['string', 'integer'],
  }
  const typeOf = (value: unknown) => Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value
  const leaves = (value: unknown, prefix = ''): Array<[string, unknown]> =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.entries(value).flatMap(([key, inner]) => leaves(inner, prefix ? `${prefix}.${key}` : key))
      : [[prefix, value]]

  it.each([false, true])('every key set (disableKubeProxy %s) is in the schema with a type it allows', (disabled) => {
    const config = withNetwork({})
    const values = networkRelease({ ...config, kubernetes: { ...config.kubernetes, extra: { disableKubeProxy: disabled } } }, 'cilium').values
    for (const [path, value] of leaves(values)) {
      expect(SCHEMA[path], `${path} is not a key kk-action checked against cilium's schema`).toBeDefined()
      expect(SCHEMA[path], path).toContain(typeOf(value))
    }
  })
})
