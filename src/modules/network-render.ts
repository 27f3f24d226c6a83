import type { ClusterConfig } from '../config/types.js'
import { UserError } from '../errors.js'

export type NetworkPlugin = 'calico' | 'flannel' | 'cilium'

/** A workload whose rollout says the plugin is up. */
export interface Workload {
  kind: 'daemonset' | 'deployment'
  name: string
  namespace: string
}

/** How one plugin's chart is installed: its Helm release, the values from the config, what to await. */
export interface NetworkRelease {
  plugin: NetworkPlugin
  release: string
  namespace: string
  /** Pod Security admission must let the plugin's privileged pods run in its namespace. */
  privilegedNamespace: boolean
  values: Record<string, unknown>
  /** In order: calico's operator creates calico-system's workloads only after it is up. */
  workloads: Workload[]
  /** Objects applied in the release's namespace before the chart is installed (kubectl apply). */
  manifests: Array<{ name: string; object: Record<string, unknown> }>
}

/** `kubernetes.disableKubeProxy: true`: kubeadm skips kube-proxy, so the plugin must route Services itself. */
export function kubeProxyDisabled(config: ClusterConfig): boolean {
  return config.kubernetes.extra.disableKubeProxy === true
}

/**
 * Where pods on the host network reach the API server without a Service: the control-plane endpoint, whose
 * domain every node resolves through its /etc/hosts (the VIP, the local haproxy or a control plane).
 */
export function apiServerEndpoint(config: ClusterConfig): { host: string; port: number } {
  return { host: config.controlPlaneEndpoint.domain, port: config.controlPlaneEndpoint.port }
}

const CALICO_MODES = ['Always', 'CrossSubnet', 'Never'] as const
type CalicoMode = (typeof CALICO_MODES)[number]
const FLANNEL_BACKENDS = ['vxlan', 'host-gw', 'wireguard'] as const

/** The IPv4 pod CIDR (kubePodsCIDR may be a dual-stack "v4,v6" pair). */
export function ipv4PodCIDR(config: ClusterConfig): string {
  const cidr = config.network.kubePodsCIDR.split(',').map((part) => part.trim()).find((part) => !part.includes(':'))
  if (!cidr || !/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(cidr)) {
    throw new UserError(`network.kubePodsCIDR "${config.network.kubePodsCIDR}" has no IPv4 CIDR`,
      { file: config.file, field: 'spec.network.kubePodsCIDR' }, 'Give an IPv4 CIDR such as 10.233.64.0/18')
  }
  return cidr
}

function pluginSettings(config: ClusterConfig, plugin: string): Record<string, unknown> {
  const value = config.network.extra[plugin]
  return value && typeof value === 'object' ? value as Record<string, unknown> : {}
}

function calicoMode(config: ClusterConfig, field: 'ipipMode' | 'vxlanMode', fallback: CalicoMode): CalicoMode {
  const value = pluginSettings(config, 'calico')[field] ?? fallback
  if (!(CALICO_MODES as readonly unknown[]).includes(value)) {
    throw new UserError(`network.calico.${field} is "${String(value)}"`, { file: config.file, field: `spec.network.calico.${field}` },
      `Use one of ${CALICO_MODES.join(', ')}`)
  }
  return value as CalicoMode
}

/** KubeKey's ipipMode (default Always) / vxlanMode (default Never) as the operator's pool encapsulation. */
function calicoEncapsulation(config: ClusterConfig): string {
  const ipip = calicoMode(config, 'ipipMode', 'Always')
  const vxlan = calicoMode(config, 'vxlanMode', 'Never')
  if (ipip !== 'Never' && vxlan !== 'Never') {
    throw new UserError('network.calico.ipipMode and vxlanMode are both enabled', { file: config.file, field: 'spec.network.calico.vxlanMode' },
      'Enable one encapsulation: set the other to Never')
  }
  const [name, mode] = vxlan !== 'Never' ? ['VXLAN', vxlan] : ipip !== 'Never' ? ['IPIP', ipip] : ['None', 'Always']
  return mode === 'CrossSubnet' ? `${name}CrossSubnet` : name
}

/** KubeKey's ipAutoDetectionMethod (calico-node's IP_AUTODETECTION_METHOD syntax) in the operator's terms. */
function calicoAddressDetection(config: ClusterConfig): Record<string, unknown> | undefined {
  const method = pluginSettings(config, 'calico').ipAutoDetectionMethod
  if (method === undefined) return undefined
  const [kind, value = ''] = String(method).split(/=(.*)/s)
  switch (kind) {
    case 'first-found': return { firstFound: true }
    case 'can-reach': return { canReach: value }
    case 'interface': return { interface: value }
    case 'skip-interface': return { skipInterface: value }
    case 'cidr': return { cidrs: value.split(',') }
    case 'kubernetes-internal-ip': return { kubernetes: 'NodeInternalIP' }
  }
  throw new UserError(`network.calico.ipAutoDetectionMethod "${String(method)}" is not a method calico knows`,
    { file: config.file, field: 'spec.network.calico.ipAutoDetectionMethod' },
    'Use first-found, can-reach=ADDRESS, interface=REGEX, skip-interface=REGEX, cidr=CIDR[,CIDR] or kubernetes-internal-ip')
}

/** The tigera-operator chart, its Installation carrying the config's pod CIDR and encapsulation. */
function calicoRelease(config: ClusterConfig): NetworkRelease {
  const settings = pluginSettings(config, 'calico')
  const encapsulation = calicoEncapsulation(config)
  const detection = calicoAddressDetection(config)
  const registry = config.registry.privateRegistry?.replace(/^https?:\/\//, '').replace(/\/+$/, '')
  const imagePath = config.registry.namespaceOverride
  const calicoNetwork = {
    // VXLAN carries pod traffic without BGP; IPIP and unencapsulated pools need calico's BGP routes.
    bgp: encapsulation.startsWith('VXLAN') ? 'Disabled' : 'Enabled',
    ipPools: [{
      cidr: ipv4PodCIDR(config),
      encapsulation,
      natOutgoing: settings.ipv4NatOutgoing === false ? 'Disabled' : 'Enabled',
      nodeSelector: 'all()',
    }],
    ...(typeof settings.vethMTU === 'number' && settings.vethMTU > 0 ? { mtu: settings.vethMTU } : {}),
    ...(detection ? { nodeAddressAutodetectionV4: detection } : {}),
    // Without kube-proxy only calico's eBPF data plane implements Services.
    ...(kubeProxyDisabled(config) ? { linuxDataplane: 'BPF' } : {}),
  }
  return {
    plugin: 'calico',
    release: 'calico',
    namespace: 'tigera-operator',
    privilegedNamespace: false,
    values: {
      installation: {
        enabled: true, cni: { type: 'Calico' }, calicoNetwork,
        ...(registry ? { registry: `${registry}/` } : {}), ...(imagePath ? { imagePath } : {}),
      },
      ...(registry ? { tigeraOperator: { registry } } : {}),
      // KubeKey's calico is the network alone: no aggregated API server, flow logs (goldmane) or UI (whisker).
      apiServer: { enabled: false },
      goldmane: { enabled: false },
      whisker: { enabled: false },
    },
    workloads: [
      { kind: 'deployment', name: 'tigera-operator', namespace: 'tigera-operator' },
      { kind: 'daemonset', name: 'calico-node', namespace: 'calico-system' },
      { kind: 'deployment', name: 'calico-kube-controllers', namespace: 'calico-system' },
    ],
    manifests: kubeProxyDisabled(config) ? [calicoServicesEndpoint(config)] : [],
  }
}

/**
 * The operator and calico-node read the API server's address from this ConfigMap instead of the kubernetes
 * Service, which nothing routes before calico's eBPF data plane runs. It must exist before the operator starts.
 */
function calicoServicesEndpoint(config: ClusterConfig): NetworkRelease['manifests'][number] {
  const { host, port } = apiServerEndpoint(config)
  return {
    name: 'kubernetes-services-endpoint',
    object: {
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: { name: 'kubernetes-services-endpoint', namespace: 'tigera-operator' },
      data: { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: String(port) },
    },
  }
}

/** flannel routes pods only; Services stay kube-proxy's job, so it cannot run without it. */
export const FLANNEL_NEEDS_KUBE_PROXY = {
  problem: 'network.plugin flannel needs kube-proxy, and kubernetes.disableKubeProxy is true',
  hint: 'flannel does not implement Services: keep kube-proxy (remove disableKubeProxy), or use cilium or calico, which replace it',
}

function flannelNeedsKubeProxy(file: string): UserError {
  return new UserError(FLANNEL_NEEDS_KUBE_PROXY.problem, { file, field: 'spec.kubernetes.disableKubeProxy' }, FLANNEL_NEEDS_KUBE_PROXY.hint)
}

/** flannel's chart with the pod CIDR and KubeKey's flannel.backendMode (default vxlan). */
function flannelRelease(config: ClusterConfig): NetworkRelease {
  if (kubeProxyDisabled(config)) throw flannelNeedsKubeProxy(config.file)
  const backend = pluginSettings(config, 'flannel').backendMode ?? 'vxlan'
  if (!(FLANNEL_BACKENDS as readonly unknown[]).includes(backend)) {
    throw new UserError(`network.flannel.backendMode is "${String(backend)}"`, { file: config.file, field: 'spec.network.flannel.backendMode' },
      `Use one of ${FLANNEL_BACKENDS.join(', ')}`)
  }
  return {
    plugin: 'flannel',
    release: 'flannel',
    namespace: 'kube-flannel',
    privilegedNamespace: true,
    values: { podCidr: ipv4PodCIDR(config), flannel: { backend } },
    workloads: [{ kind: 'daemonset', name: 'kube-flannel-ds', namespace: 'kube-flannel' }],
    manifests: [],
  }
}

/** cilium's chart with cluster-pool IPAM on the pod CIDR; one operator replica per node, at most two. */
function ciliumRelease(config: ClusterConfig): NetworkRelease {
  return {
    plugin: 'cilium',
    release: 'cilium',
    namespace: 'kube-system',
    privilegedNamespace: false,
    values: {
      ipam: { mode: 'cluster-pool', operator: { clusterPoolIPv4PodCIDRList: [ipv4PodCIDR(config)], clusterPoolIPv4MaskSize: 24 } },
      // The operator's replicas refuse to share a node, so a second one would never schedule on one node.
      operator: { replicas: Math.min(2, kubernetesNodes(config)) },
      ...(kubeProxyDisabled(config) ? ciliumWithoutKubeProxy(config) : {}),
    },
    workloads: [
      { kind: 'daemonset', name: 'cilium', namespace: 'kube-system' },
      { kind: 'deployment', name: 'cilium-operator', namespace: 'kube-system' },
    ],
    manifests: [],
  }
}

/**
 * Cilium replaces kube-proxy and reaches the API server directly (the kubernetes Service needs the replacement
 * first). "true" is the chart's value for 1.15 and later, where the older strict/partial were removed.
 */
function ciliumWithoutKubeProxy(config: ClusterConfig): Record<string, unknown> {
  const { host, port } = apiServerEndpoint(config)
  return { kubeProxyReplacement: 'true', k8sServiceHost: host, k8sServicePort: port }
}

/** Hosts that run a kubelet (control planes and workers; etcd-only hosts do not). */
function kubernetesNodes(config: ClusterConfig): number {
  return config.hosts.filter((host) => host.roles.includes('control-plane') || host.roles.includes('worker')).length
}

export function networkRelease(config: ClusterConfig, plugin: NetworkPlugin): NetworkRelease {
  return { calico: calicoRelease, flannel: flannelRelease, cilium: ciliumRelease }[plugin](config)
}
