/** The cluster config after validation and KubeKey's defaults: what every later stage reads. */

export const ARCHES = ['amd64', 'arm64'] as const
export type Arch = (typeof ARCHES)[number]

export const ROLES = ['etcd', 'control-plane', 'worker'] as const
export type Role = (typeof ROLES)[number]

export const CONTAINER_MANAGERS = ['containerd', 'docker'] as const
export type ContainerManager = (typeof CONTAINER_MANAGERS)[number]

export const ETCD_TYPES = ['kubekey', 'kubeadm', 'external'] as const
export type EtcdType = (typeof ETCD_TYPES)[number]

export const NETWORK_PLUGINS = ['calico', 'flannel', 'cilium', 'none'] as const
export type NetworkPlugin = (typeof NETWORK_PLUGINS)[number]

export const LOAD_BALANCERS = ['haproxy', 'kube-vip'] as const
export type InternalLoadBalancer = (typeof LOAD_BALANCERS)[number]

export interface Bastion {
  address: string
  port: number
  user: string
  password?: string
  privateKey?: string
  privateKeyPath?: string
}

export interface Host {
  name: string
  address: string
  internalAddress: string
  port: number
  user: string
  password?: string
  /** Inline PEM private key (KubeKey's `privateKey`). */
  privateKey?: string
  privateKeyPath?: string
  arch: Arch
  /** Roles from roleGroups, in the order etcd, control-plane, worker. */
  roles: Role[]
  /** A jump host (kk-action extension; KubeKey declares but never wires it). */
  bastion?: Bastion
  labels: Record<string, string>
}

export interface Addon {
  name: string
  namespace?: string
  sources: {
    chart?: { name: string; repo?: string; path?: string; version?: string; valuesFile?: string; values?: string[]; wait?: boolean }
    yaml?: { path: string[] }
  }
  retries?: number
  delay?: number
}

export interface ClusterConfig {
  /** Path of the file it came from, as the user gave it (for error messages). */
  file: string
  name: string
  hosts: Host[]
  /** Host names per role, in the order of `hosts`; control-plane includes KubeKey's `master` alias. */
  roleGroups: Record<Role, string[]>
  controlPlaneEndpoint: {
    domain: string
    address: string
    port: number
    internalLoadbalancer?: InternalLoadBalancer
  }
  system: Record<string, unknown>
  kubernetes: {
    version: string
    /** True when the config did not set containerManager and KubeKey's default `docker` applies. */
    containerManagerDefaulted: boolean
    containerManager: ContainerManager
    clusterName: string
    dnsDomain: string
    proxyMode: 'ipvs' | 'iptables'
    maxPods?: number
    podPidsLimit?: number
    apiserverCertExtraSans: string[]
    featureGates: Record<string, boolean>
    /** Every other field of spec.kubernetes, passed through unchanged. */
    extra: Record<string, unknown>
  }
  etcd: {
    type: EtcdType
    dataDir: string
    backupDir: string
    backupPeriod: number
    keepBackupNumber: number
    external?: { endpoints: string[]; caFile?: string; certFile?: string; keyFile?: string }
    extra: Record<string, unknown>
  }
  network: {
    plugin: NetworkPlugin
    kubePodsCIDR: string
    kubeServiceCIDR: string
    extra: Record<string, unknown>
  }
  registry: {
    privateRegistry?: string
    namespaceOverride?: string
    registryMirrors: string[]
    insecureRegistries: string[]
    auths: Record<string, { username?: string; password?: string; skipTLSVerify?: boolean; plainHTTP?: boolean; certsPath?: string }>
  }
  addons: Addon[]
  /** Per-component version overrides (kk-action extension `spec.componentVersions`). */
  componentVersions: Record<string, string>
  /** Fields kept but not acted on yet, as field paths (reported once in a notice). */
  unusedFields: string[]
  /**
   * The validated `spec` as written (after ${VAR} substitution, before defaults): where fields without a
   * typed slot above are kept (storage, dns, kubesphere, host timeout, controlPlaneEndpoint.externalDNS …).
   */
  spec: Record<string, unknown>
}

export interface Overrides {
  kubernetesVersion?: string
  containerManager?: string
  networkPlugin?: string
}

/** Notices and secrets collected while loading; the caller prints/masks them. */
export interface LoadResult {
  config: ClusterConfig
  notices: string[]
  /** Values that came from ${ENV} substitution or credential fields: to be masked and redacted. */
  secrets: string[]
  /** Position of a field path in the source file, for later errors (plan errors name the config field). */
  locate(field: string): { line: number; column: number } | undefined
}
