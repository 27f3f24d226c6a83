import { formatPath, type FieldPath } from './field-path.js'
import { isRecord } from './documents.js'

/**
 * The spec fields kk-action acts on, as path patterns (`*` = any index or key). A field the user wrote that is
 * neither one of these nor inside one is kept but reported as not acted on yet. Modules that start using a
 * field add it here.
 */
export const ACTED_ON_FIELDS: readonly string[] = [
  'hosts.*.name',
  'hosts.*.address',
  'hosts.*.internalAddress',
  'hosts.*.port',
  'hosts.*.user',
  'hosts.*.password',
  'hosts.*.privateKey',
  'hosts.*.privateKeyPath',
  'hosts.*.arch',
  'hosts.*.labels',
  'hosts.*.bastion',
  'roleGroups.etcd',
  'roleGroups.master',
  'roleGroups.control-plane',
  'roleGroups.worker',
  'controlPlaneEndpoint.internalLoadbalancer',
  'controlPlaneEndpoint.domain',
  'controlPlaneEndpoint.address',
  'controlPlaneEndpoint.port',
  'system.ntpServers',
  'system.timezone',
  'system.rpms',
  'system.debs',
  'system.skipConfigureOS',
  'kubernetes.version',
  'kubernetes.containerManager',
  'kubernetes.clusterName',
  'kubernetes.dnsDomain',
  'kubernetes.proxyMode',
  'kubernetes.maxPods',
  'kubernetes.podPidsLimit',
  'kubernetes.apiserverCertExtraSans',
  'kubernetes.featureGates',
  'kubernetes.apiserverArgs',
  'kubernetes.controllerManagerArgs',
  'kubernetes.schedulerArgs',
  'kubernetes.kubeletArgs',
  'kubernetes.kubeletConfiguration',
  'kubernetes.kubeProxyConfiguration',
  'kubernetes.containerRuntimeEndpoint',
  'kubernetes.nodeCidrMaskSize',
  'kubernetes.masqueradeAll',
  'kubernetes.disableKubeProxy',
  'etcd.type',
  'etcd.external',
  'etcd.dataDir',
  'etcd.backupDir',
  'etcd.backupPeriod',
  'etcd.keepBackupNumber',
  'etcd.port',
  'etcd.peerPort',
  'etcd.backupScript',
  'etcd.heartbeatInterval',
  'etcd.electionTimeout',
  'etcd.snapshotCount',
  'etcd.autoCompactionRetention',
  'etcd.metrics',
  'etcd.quotaBackendBytes',
  'etcd.maxRequestBytes',
  'etcd.maxSnapshots',
  'etcd.maxWals',
  'etcd.logLevel',
  'network.plugin',
  'network.kubePodsCIDR',
  'network.kubeServiceCIDR',
  'network.calico.ipipMode',
  'network.calico.vxlanMode',
  'network.calico.vethMTU',
  'network.calico.ipv4NatOutgoing',
  'network.calico.ipAutoDetectionMethod',
  'network.flannel.backendMode',
  'registry.privateRegistry',
  'registry.namespaceOverride',
  'registry.registryMirrors',
  'registry.insecureRegistries',
  'registry.auths',
  'registry.containerdDataDir',
  'registry.dockerDataDir',
  'addons.*.name',
  'addons.*.namespace',
  'addons.*.sources.chart',
  'addons.*.sources.yaml.path',
  'addons.*.retries',
  'addons.*.delay',
  'componentVersions',
  'bastion',
  'smokeTest',
]

const PATTERNS = ACTED_ON_FIELDS.map((pattern) => pattern.split('.'))

/** Paths (`spec.system.ntpServers`, `spec.hosts[0].timeout` …) of the fields written but not acted on. */
export function findUnusedFields(spec: Record<string, unknown>): string[] {
  const unused: FieldPath[] = []
  collect(spec, [], unused)
  return unused.map((path) => formatPath(['spec', ...path]))
}

function collect(value: unknown, path: FieldPath, unused: FieldPath[]): void {
  const children = childrenOf(value)
  for (const [segment, child] of children) {
    const childPath = [...path, segment]
    const match = matchPatterns(childPath)
    if (match === 'covered' || isEmpty(child)) continue
    // A whole section nobody reads (spec.system) is listed field by field, which says more than the section name.
    if (match === 'prefix' || (childPath.length === 1 && isRecord(child))) collect(child, childPath, unused)
    else unused.push(childPath)
  }
}

/** Like KubeKey (Go's zero values), an empty string, list or mapping means "not set": nothing to act on. */
function isEmpty(value: unknown): boolean {
  return value === '' || (Array.isArray(value) && value.length === 0) || (isRecord(value) && Object.keys(value).length === 0)
}

function childrenOf(value: unknown): [string | number, unknown][] {
  if (Array.isArray(value)) return value.map((item, index) => [index, item])
  if (isRecord(value)) return Object.entries(value)
  return []
}

/** `covered`: the path is an acted-on field or inside one; `prefix`: some acted-on field lies below it. */
function matchPatterns(path: FieldPath): 'covered' | 'prefix' | 'none' {
  let result: 'prefix' | 'none' = 'none'
  for (const pattern of PATTERNS) {
    const common = Math.min(pattern.length, path.length)
    const agrees = pattern.slice(0, common).every((segment, index) => segment === '*' || segment === String(path[index]))
    if (!agrees) continue
    if (path.length >= pattern.length) return 'covered'
    result = 'prefix'
  }
  return result
}
