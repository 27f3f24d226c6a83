import { z } from 'zod'
import { CONTAINER_MANAGERS, ETCD_TYPES, LOAD_BALANCERS, NETWORK_PLUGINS } from './types.js'
import { cidrProblem, isValidNodeName, kubernetesVersionProblem } from './validators.js'

/**
 * The KubeKey `kubekey.kubesphere.io/v1alpha2` Cluster document as written, plus kk-action's extensions
 * (`spec.componentVersions`, `bastion`). Objects are strict so unknown keys surface (as notices, see load.ts);
 * open-ended maps (labels, featureGates, *Configuration, chart values) are records.
 */

export const HOST_ARCHES = { amd64: 'amd64', arm64: 'arm64', x86_64: 'amd64', aarch64: 'arm64' } as const

/** Values KubeKey accepts that kk-action does not (said so in the message, so nobody hunts for a typo). */
const KUBEKEY_ONLY_CONTAINER_MANAGERS = ['crio', 'cri-o', 'isula']
const KUBEKEY_ONLY_NETWORK_PLUGINS = ['kubeovn', 'kube-ovn', 'hybridnet']

export function choiceProblem(value: string, allowed: readonly string[], kubekeyOnly: readonly string[] = []): string | undefined {
  if (allowed.includes(value)) return undefined
  const why = kubekeyOnly.includes(value) ? `"${value}" is supported by KubeKey but not by kk-action` : `"${value}" is not supported`
  return `${why}; allowed: ${allowed.join(', ')}`
}

export const containerManagerProblem = (value: string) => choiceProblem(value, CONTAINER_MANAGERS, KUBEKEY_ONLY_CONTAINER_MANAGERS)
export const networkPluginProblem = (value: string) => choiceProblem(value, NETWORK_PLUGINS, KUBEKEY_ONLY_NETWORK_PLUGINS)

/** A string checked by `problem`, which returns the message of a rejection. */
function checkedString(problem: (value: string) => string | undefined) {
  return z.string().superRefine((value, ctx) => {
    const message = problem(value)
    if (message) ctx.addIssue({ code: 'custom', message })
  })
}

/** An optional checked string where '' means "not set", as Go's zero value does for KubeKey. */
function optionalChecked(problem: (value: string) => string | undefined) {
  return checkedString((value) => (value === '' ? undefined : problem(value))).optional()
}

const str = z.string()
const int = z.number().int()
/** 0 is Go's zero value: KubeKey reads it as "not set" and applies the default. */
const port = z.number().int().min(0).max(65535)
const count = z.number().int().min(0)
const strings = z.array(z.string())
const bool = z.boolean()
const anyMap = z.record(z.string(), z.unknown())
const stringMap = z.record(z.string(), z.string())

const nodeName = checkedString((name) =>
  isValidNodeName(name)
    ? undefined
    : `"${name}" is not a valid Kubernetes node name: use lowercase letters, digits, "-" and ".", starting and ending with a letter or digit (RFC 1123, at most 253 characters)`,
)
const arch = optionalChecked((value) => choiceProblem(value, Object.keys(HOST_ARCHES)))
const cidr = optionalChecked(cidrProblem)

export const bastionSchema = z.strictObject({
  address: z.string().min(1),
  port: port.optional(),
  user: str.optional(),
  password: str.optional(),
  privateKey: str.optional(),
  privateKeyPath: str.optional(),
})

const hostSchema = z.strictObject({
  name: nodeName,
  address: str.optional(),
  internalAddress: str.optional(),
  port: port.optional(),
  user: str.optional(),
  password: str.optional(),
  privateKey: str.optional(),
  privateKeyPath: str.optional(),
  arch,
  timeout: int.optional(),
  labels: stringMap.optional(),
  bastion: bastionSchema.optional(),
})

const roleGroupsSchema = z.strictObject({
  etcd: strings.optional(),
  master: strings.optional(),
  'control-plane': strings.optional(),
  worker: strings.optional(),
  registry: strings.optional(),
})

const controlPlaneEndpointSchema = z.strictObject({
  internalLoadbalancer: optionalChecked((value) => choiceProblem(value, LOAD_BALANCERS)),
  domain: str.optional(),
  externalDNS: bool.optional(),
  address: str.optional(),
  port: port.optional(),
  kubevip: z.strictObject({ mode: str.optional() }).optional(),
})

const customScript = z.strictObject({ name: str.optional(), bash: str.optional(), role: str.optional(), materials: strings.optional() })

const systemSchema = z.strictObject({
  ntpServers: strings.optional(),
  timezone: str.optional(),
  rpms: strings.optional(),
  debs: strings.optional(),
  preInstall: z.array(customScript).optional(),
  postClusterInstall: z.array(customScript).optional(),
  postInstall: z.array(customScript).optional(),
  skipConfigureOS: bool.optional(),
})

const enabled = z.strictObject({ enabled: bool.optional() })

const kubernetesSchema = z.strictObject({
  type: str.optional(),
  version: optionalChecked(kubernetesVersionProblem),
  clusterName: str.optional(),
  dnsDomain: str.optional(),
  disableKubeProxy: bool.optional(),
  masqueradeAll: bool.optional(),
  maxPods: count.optional(),
  podPidsLimit: int.optional(),
  nodeCidrMaskSize: int.optional(),
  nodeCidrMaskSizeIPv6: int.optional(),
  apiserverCertExtraSans: strings.optional(),
  proxyMode: optionalChecked((value) => choiceProblem(value, ['ipvs', 'iptables'])),
  autoRenewCerts: bool.optional(),
  nodelocaldns: bool.optional(),
  containerManager: optionalChecked(containerManagerProblem),
  containerRuntimeEndpoint: str.optional(),
  nodeFeatureDiscovery: enabled.optional(),
  kata: enabled.optional(),
  apiserverArgs: strings.optional(),
  controllerManagerArgs: strings.optional(),
  schedulerArgs: strings.optional(),
  kubeletArgs: strings.optional(),
  kubeProxyArgs: strings.optional(),
  featureGates: z.record(z.string(), bool).optional(),
  kubeletConfiguration: anyMap.optional(),
  kubeProxyConfiguration: anyMap.optional(),
  audit: enabled.optional(),
  nvidiaRuntime: bool.optional(),
})

const etcdSchema = z.strictObject({
  type: optionalChecked((value) => choiceProblem(value, ETCD_TYPES)),
  external: z
    .strictObject({ endpoints: strings.optional(), caFile: str.optional(), certFile: str.optional(), keyFile: str.optional() })
    .optional(),
  port: port.optional(),
  peerPort: port.optional(),
  extraArgs: strings.optional(),
  backupDir: str.optional(),
  backupPeriod: count.optional(),
  keepBackupNumber: count.optional(),
  backupScript: str.optional(),
  dataDir: str.optional(),
  heartbeatInterval: int.optional(),
  electionTimeout: int.optional(),
  snapshotCount: int.optional(),
  autoCompactionRetention: int.optional(),
  metrics: str.optional(),
  quotaBackendBytes: int.optional(),
  maxRequestBytes: int.optional(),
  maxSnapshots: int.optional(),
  maxWals: int.optional(),
  logLevel: str.optional(),
})

const nodeSelectorReplicas = z.strictObject({ replicas: int.optional(), nodeSelector: stringMap.optional() })

const calicoSchema = z.strictObject({
  ipipMode: str.optional(),
  ipAutoDetectionMethod: str.optional(),
  vxlanMode: str.optional(),
  vethMTU: int.optional(),
  ipv4NatOutgoing: bool.optional(),
  ipv6NatOutgoing: bool.optional(),
  defaultIPPOOL: bool.optional(),
  typha: nodeSelectorReplicas.extend({ enabled: bool.optional() }).optional(),
  controller: nodeSelectorReplicas.optional(),
})

const kubeovnSchema = z.strictObject({
  enableSSL: bool.optional(),
  joinCIDR: str.optional(),
  label: str.optional(),
  tunnelType: str.optional(),
  svcYamlIpfamilypolicy: str.optional(),
  dpdk: z.strictObject({ dpdkMode: bool.optional(), dpdkTunnelIface: str.optional(), dpdkVersion: str.optional() }).optional(),
  'ovs-ovn': z.strictObject({ hwOffload: bool.optional() }).optional(),
  'kube-ovn-controller': anyMap.optional(),
  'kube-ovn-cni': anyMap.optional(),
  'kube-ovn-pinger': anyMap.optional(),
})

const networkSchema = z.strictObject({
  plugin: optionalChecked(networkPluginProblem),
  kubePodsCIDR: cidr,
  kubeServiceCIDR: cidr,
  calico: calicoSchema.optional(),
  flannel: z.strictObject({ backendMode: str.optional(), directRouting: bool.optional() }).optional(),
  kubeovn: kubeovnSchema.optional(),
  multusCNI: enabled.optional(),
  hybridnet: anyMap.optional(),
})

const externalZone = z.strictObject({ zones: strings.optional(), nameservers: strings.optional(), cache: int.optional(), rewrite: strings.optional() })

const dnsSchema = z.strictObject({
  dnsEtcHosts: str.optional(),
  nodeEtcHosts: str.optional(),
  coredns: z
    .strictObject({
      additionalConfigs: str.optional(),
      externalZones: z.array(externalZone).optional(),
      rewriteBlock: str.optional(),
      upstreamDNSServers: strings.optional(),
    })
    .optional(),
  nodelocaldns: z.strictObject({ externalZones: z.array(externalZone).optional() }).optional(),
})

const registryAuth = z.strictObject({
  username: str.optional(),
  password: str.optional(),
  skipTLSVerify: bool.optional(),
  plainHTTP: bool.optional(),
  certsPath: str.optional(),
})

const registrySchema = z.strictObject({
  type: str.optional(),
  registryMirrors: strings.optional(),
  insecureRegistries: strings.optional(),
  privateRegistry: str.optional(),
  containerdDataDir: str.optional(),
  dockerDataDir: str.optional(),
  registryDataDir: str.optional(),
  namespaceOverride: str.optional(),
  bridgeIP: str.optional(),
  auths: z.record(z.string(), registryAuth).optional(),
  namespaceRewrite: z.strictObject({ policy: str.optional(), src: strings.optional(), dest: str.optional() }).optional(),
  remoteMirrors: z.record(z.string(), z.strictObject({ endpoint: str.optional() })).optional(),
})

const addonSchema = z.strictObject({
  name: z.string().min(1),
  namespace: str.optional(),
  preInstall: z.array(customScript).optional(),
  sources: z
    .strictObject({
      chart: z
        .strictObject({
          name: str.optional(),
          repo: str.optional(),
          path: str.optional(),
          version: str.optional(),
          valuesFile: str.optional(),
          values: strings.optional(),
          wait: bool.optional(),
        })
        .optional(),
      yaml: z.strictObject({ path: strings.optional(), values: anyMap.optional() }).optional(),
    })
    .optional(),
  postInstall: z.array(customScript).optional(),
  retries: int.optional(),
  delay: int.optional(),
})

const kubesphereSchema = z.strictObject({ enabled: bool.optional(), version: str.optional(), configurations: str.optional() })

export const specSchema = z.strictObject({
  hosts: z.array(hostSchema).min(1, 'at least one host is required'),
  roleGroups: roleGroupsSchema,
  controlPlaneEndpoint: controlPlaneEndpointSchema.optional(),
  system: systemSchema.optional(),
  etcd: etcdSchema.optional(),
  dns: dnsSchema.optional(),
  kubernetes: kubernetesSchema.optional(),
  network: networkSchema.optional(),
  storage: z.strictObject({ openebs: z.strictObject({ basePath: str.optional() }).optional() }).optional(),
  registry: registrySchema.optional(),
  addons: z.array(addonSchema).optional(),
  kubesphere: kubesphereSchema.optional(),
  // kk-action extensions
  componentVersions: z.record(z.string(), z.string()).optional(),
  bastion: bastionSchema.optional(),
  smokeTest: z.strictObject({ manifest: str.optional(), command: str.optional(), timeoutSeconds: int.optional() }).optional(),
})

export const clusterDocumentSchema = z.strictObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.looseObject({ name: str.optional() }).optional(),
  spec: specSchema,
})

export type RawSpec = z.infer<typeof specSchema>
export type RawHost = RawSpec['hosts'][number]
export type RawBastion = z.infer<typeof bastionSchema>
export type RawClusterDocument = z.infer<typeof clusterDocumentSchema>
