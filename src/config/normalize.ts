import type { Addon, ClusterConfig, ContainerManager, EtcdType, InternalLoadBalancer, NetworkPlugin } from './types.js'
import type { RawSpec } from './schema.js'
import { normalizeHosts } from './hosts.js'
import { resolveRoleGroups } from './roles.js'
import { normalizeComponentVersion } from './validators.js'
import type { ConfigSource } from './source.js'

/** KubeKey v3's defaults (cmd/kk/apis/kubekey/v1alpha2/default.go); like KubeKey, a 0 or '' gets the default. */
export const DEFAULTS = {
  kubernetesVersion: 'v1.23.17',
  containerManager: 'docker',
  clusterName: 'cluster.local',
  dnsDomain: 'cluster.local',
  proxyMode: 'ipvs',
  maxPods: 110,
  podPidsLimit: 10000,
  lbDomain: 'lb.kubesphere.local',
  lbPort: 6443,
  etcdType: 'kubekey',
  etcdDataDir: '/var/lib/etcd',
  etcdBackupDir: '/var/backups/kube_etcd',
  /** Minutes (KubeKey's DefaultEtcdBackupPeriod: once a day). */
  etcdBackupPeriod: 1440,
  etcdKeepBackupNumber: 5,
  networkPlugin: 'calico',
  podsCIDR: '10.233.64.0/18',
  serviceCIDR: '10.233.0.0/18',
} as const

/** Components whose version `spec.componentVersions` may pin (kubeadm/kubelet/kubectl follow kubernetes.version). */
export const VERSIONED_COMPONENTS = ['containerd', 'runc', 'crictl', 'docker', 'cri-dockerd', 'etcd', 'cni-plugins', 'calicoctl', 'helm',
  'calico', 'flannel', 'cilium'] as const

export function normalizeSpec(spec: RawSpec, name: string, source: ConfigSource): ClusterConfig {
  const hosts = normalizeHosts(spec.hosts, spec.bastion, source)
  const roleGroups = resolveRoleGroups(spec.roleGroups, hosts, source)
  return {
    file: source.file,
    name,
    hosts,
    roleGroups,
    controlPlaneEndpoint: controlPlaneEndpoint(spec),
    system: { ...spec.system },
    kubernetes: kubernetes(spec),
    etcd: etcd(spec),
    network: network(spec),
    registry: registry(spec),
    addons: (spec.addons ?? []).map(addon),
    componentVersions: componentVersions(spec, source),
    unusedFields: [],
    spec,
  }
}

function controlPlaneEndpoint(spec: RawSpec): ClusterConfig['controlPlaneEndpoint'] {
  const raw = spec.controlPlaneEndpoint ?? {}
  const endpoint: ClusterConfig['controlPlaneEndpoint'] = {
    domain: raw.domain || DEFAULTS.lbDomain,
    address: raw.address ?? '',
    port: raw.port || DEFAULTS.lbPort,
  }
  if (raw.internalLoadbalancer) endpoint.internalLoadbalancer = raw.internalLoadbalancer as InternalLoadBalancer
  return endpoint
}

function kubernetes(spec: RawSpec): ClusterConfig['kubernetes'] {
  const {
    version,
    containerManager,
    clusterName,
    dnsDomain,
    proxyMode,
    maxPods,
    podPidsLimit,
    apiserverCertExtraSans,
    featureGates,
    ...extra
  } = spec.kubernetes ?? {}
  return {
    version: version || DEFAULTS.kubernetesVersion,
    containerManagerDefaulted: !containerManager,
    containerManager: (containerManager || DEFAULTS.containerManager) as ContainerManager,
    clusterName: clusterName || DEFAULTS.clusterName,
    dnsDomain: dnsDomain || DEFAULTS.dnsDomain,
    proxyMode: (proxyMode || DEFAULTS.proxyMode) as 'ipvs' | 'iptables',
    maxPods: maxPods || DEFAULTS.maxPods,
    podPidsLimit: podPidsLimit || DEFAULTS.podPidsLimit,
    apiserverCertExtraSans: apiserverCertExtraSans ?? [],
    featureGates: featureGates ?? {},
    extra,
  }
}

function etcd(spec: RawSpec): ClusterConfig['etcd'] {
  const { type, dataDir, backupDir, backupPeriod, keepBackupNumber, external, ...extra } = spec.etcd ?? {}
  const result: ClusterConfig['etcd'] = {
    type: (type || DEFAULTS.etcdType) as EtcdType,
    dataDir: dataDir || DEFAULTS.etcdDataDir,
    backupDir: backupDir || DEFAULTS.etcdBackupDir,
    backupPeriod: backupPeriod || DEFAULTS.etcdBackupPeriod,
    keepBackupNumber: keepBackupNumber || DEFAULTS.etcdKeepBackupNumber,
    extra,
  }
  if (external) result.external = { ...external, endpoints: external.endpoints ?? [] }
  return result
}

function network(spec: RawSpec): ClusterConfig['network'] {
  const { plugin, kubePodsCIDR, kubeServiceCIDR, ...extra } = spec.network ?? {}
  return {
    plugin: (plugin || DEFAULTS.networkPlugin) as NetworkPlugin,
    kubePodsCIDR: kubePodsCIDR || DEFAULTS.podsCIDR,
    kubeServiceCIDR: kubeServiceCIDR || DEFAULTS.serviceCIDR,
    extra,
  }
}

function registry(spec: RawSpec): ClusterConfig['registry'] {
  const raw = spec.registry ?? {}
  const result: ClusterConfig['registry'] = {
    registryMirrors: raw.registryMirrors ?? [],
    insecureRegistries: raw.insecureRegistries ?? [],
    auths: raw.auths ?? {},
  }
  if (raw.privateRegistry) result.privateRegistry = raw.privateRegistry
  if (raw.namespaceOverride) result.namespaceOverride = raw.namespaceOverride
  return result
}

function addon(raw: NonNullable<RawSpec['addons']>[number]): Addon {
  const sources: Addon['sources'] = {}
  if (raw.sources?.chart) sources.chart = { ...raw.sources.chart, name: raw.sources.chart.name || raw.name }
  if (raw.sources?.yaml) sources.yaml = { path: raw.sources.yaml.path ?? [] }
  const result: Addon = { name: raw.name, sources }
  if (raw.namespace) result.namespace = raw.namespace
  if (raw.retries !== undefined) result.retries = raw.retries
  if (raw.delay !== undefined) result.delay = raw.delay
  return result
}

function componentVersions(spec: RawSpec, source: ConfigSource): Record<string, string> {
  const result: Record<string, string> = {}
  for (const [component, version] of Object.entries(spec.componentVersions ?? {})) {
    const path = ['spec', 'componentVersions', component]
    if (!(VERSIONED_COMPONENTS as readonly string[]).includes(component)) {
      const hint = ['kubeadm', 'kubelet', 'kubectl'].includes(component)
        ? `${component} follows spec.kubernetes.version; set that instead`
        : `Allowed: ${VERSIONED_COMPONENTS.join(', ')}`
      throw source.error(path, `unknown component "${component}"`, { hint, at: 'key' })
    }
    const normalized = normalizeComponentVersion(version)
    if (!normalized) throw source.error(path, `"${version}" is not a version: use X.Y.Z, e.g. 1.7.13`)
    result[component] = normalized
  }
  return result
}
