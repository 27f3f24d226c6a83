import type { Arch, ClusterConfig, ContainerManager, EtcdType, Host, NetworkPlugin, Role } from '../../src/config/types.js'

export interface ConfigShape {
  version?: string
  containerManager?: ContainerManager
  etcd?: EtcdType
  plugin?: NetworkPlugin
  controlPlanes?: number
  workers?: number
  arches?: Arch[]
  addons?: ClusterConfig['addons']
  internalLoadbalancer?: ClusterConfig['controlPlaneEndpoint']['internalLoadbalancer']
}

/** A validated config built in memory, for plan tests that do not exercise the YAML loader. */
export function makeConfig(shape: ConfigShape = {}): ClusterConfig {
  const controlPlanes = shape.controlPlanes ?? 1
  const workers = shape.workers ?? 0
  const arches = shape.arches ?? ['amd64']
  const hosts: Host[] = []
  const total = controlPlanes + workers
  for (let i = 0; i < total; i++) {
    const roles: Role[] = i < controlPlanes ? ['etcd', 'control-plane'] : ['worker']
    if (total === 1) roles.push('worker')
    hosts.push({
      name: `node${i + 1}`, address: `10.0.0.${i + 1}`, internalAddress: `10.0.0.${i + 1}`, port: 22, user: 'root',
      privateKeyPath: '~/.ssh/id_rsa', arch: arches[i % arches.length], roles, labels: {},
    })
  }
  const withRole = (role: Role) => hosts.filter((h) => h.roles.includes(role)).map((h) => h.name)
  return {
    file: 'cluster.yaml',
    name: 'sample',
    hosts,
    roleGroups: { etcd: withRole('etcd'), 'control-plane': withRole('control-plane'), worker: withRole('worker') },
    controlPlaneEndpoint: { domain: 'lb.kubesphere.local', address: '', port: 6443, internalLoadbalancer: shape.internalLoadbalancer },
    system: {},
    kubernetes: {
      version: shape.version ?? 'v1.26.13',
      containerManager: shape.containerManager ?? 'containerd',
      containerManagerDefaulted: false,
      clusterName: 'cluster.local', dnsDomain: 'cluster.local', proxyMode: 'ipvs',
      apiserverCertExtraSans: [], featureGates: {}, extra: {},
    },
    etcd: { type: shape.etcd ?? 'kubekey', dataDir: '/var/lib/etcd', backupDir: '/var/backups/kube_etcd', backupPeriod: 30, keepBackupNumber: 5, extra: {} },
    network: { plugin: shape.plugin ?? 'calico', kubePodsCIDR: '10.233.64.0/18', kubeServiceCIDR: '10.233.0.0/18', extra: {} },
    registry: { registryMirrors: [], insecureRegistries: [], auths: {} },
    addons: shape.addons ?? [],
    componentVersions: {},
    unusedFields: [],
    spec: {},
  }
}
