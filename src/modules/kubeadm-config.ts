/**
 * The kubeadm configuration documents, as pure functions of the cluster config: InitConfiguration +
 * ClusterConfiguration + KubeletConfiguration + KubeProxyConfiguration for `kubeadm init`, and the
 * JoinConfiguration of each joining host. Same input, same bytes, so a rerun compares instead of rewriting.
 */
import { stringify } from 'yaml'
import type { ClusterConfig, Host } from '../config/types.js'
import { UserError } from '../errors.js'
import { atLeast } from '../plan/version.js'
import { builtinCatalog, componentDefaults } from '../artifacts/catalog.js'
import { kubeadmImages, type KubeadmImages } from './runtime-images.js'

export const KUBEADM = '/usr/local/bin/kubeadm'
export const KUBECTL = '/usr/local/bin/kubectl'
export const KUBEADM_CONFIG_FILE = '/etc/kubernetes/kubeadm-config.yaml'
export const KUBEADM_JOIN_FILE = '/etc/kubernetes/kubeadm-join.yaml'
export const ADMIN_CONF = '/etc/kubernetes/admin.conf'
export const KUBELET_CONF = '/etc/kubernetes/kubelet.conf'
/** The port every kube-apiserver binds to; controlPlaneEndpoint.port is the load balancer's. */
export const APISERVER_BIND_PORT = 6443

export type KubeadmApiVersion = 'kubeadm.k8s.io/v1beta2' | 'kubeadm.k8s.io/v1beta3' | 'kubeadm.k8s.io/v1beta4'

/**
 * v1beta4 arrived with kubeadm 1.31 (v1beta3 is still read there, deprecated); v1beta3 with 1.22; v1beta2 is
 * what 1.19–1.21 read.
 */
export function kubeadmApiVersion(kubernetesVersion: string): KubeadmApiVersion {
  if (atLeast(kubernetesVersion, 'v1.31.0')) return 'kubeadm.k8s.io/v1beta4'
  if (atLeast(kubernetesVersion, 'v1.22.0')) return 'kubeadm.k8s.io/v1beta3'
  return 'kubeadm.k8s.io/v1beta2'
}

/**
 * kubeadm before 1.24 (constants.DefaultDockerCRISocket) takes the built-in dockershim only when criSocket is this
 * exact string; any other form, `unix://` included, is a remote CRI to it (crictl preflight, --container-runtime=remote).
 */
export const DOCKERSHIM_SOCKET = '/var/run/dockershim.sock'

/** The CRI endpoint kubelet and kubeadm talk to: containerd, cri-dockerd (docker since 1.24) or dockershim. */
export function criSocket(config: ClusterConfig): string {
  const dockershim = !atLeast(config.kubernetes.version, 'v1.24.0')
  const override = config.kubernetes.extra.containerRuntimeEndpoint
  if (typeof override === 'string' && override) {
    if (dockershim && override.replace(/^unix:\/\//, '') === DOCKERSHIM_SOCKET) return DOCKERSHIM_SOCKET
    return override.includes('://') ? override : `unix://${override}`
  }
  if (config.kubernetes.containerManager === 'containerd') return 'unix:///run/containerd/containerd.sock'
  return dockershim ? DOCKERSHIM_SOCKET : 'unix:///run/cri-dockerd.sock'
}

/** `domain:port` of controlPlaneEndpoint: what every node (through /etc/hosts) and kubeadm use. */
export function controlPlaneEndpoint(config: ClusterConfig): string {
  const { domain, port } = config.controlPlaneEndpoint
  return `${domain}:${port}`
}

type Args = Record<string, string>

/**
 * KubeKey's `apiserverArgs` & co.: a list of `name=value` (a leading `--` is tolerated). Later entries win.
 */
export function parseArgList(config: ClusterConfig, field: string): Args {
  const list = config.kubernetes.extra[field]
  if (list === undefined) return {}
  if (!Array.isArray(list)) throw configError(config, `spec.kubernetes.${field}`, 'must be a list of "name=value" strings')
  const args: Args = {}
  list.forEach((entry, i) => {
    const match = typeof entry === 'string' ? /^(?:--)?([A-Za-z0-9][A-Za-z0-9_.-]*)=(.*)$/s.exec(entry.trim()) : null
    if (!match) throw configError(config, `spec.kubernetes.${field}[${i}]`, `"${String(entry)}" is not of the form name=value`)
    args[match[1]] = match[2]
  })
  return args
}

function configError(config: ClusterConfig, field: string, problem: string): UserError {
  return new UserError(`${field} ${problem}`, { file: config.file, field }, 'Write each argument as "flag-name=value", e.g. "service-node-port-range=30000-32767"')
}

function featureGatesArg(config: ClusterConfig): Args {
  const gates = Object.entries(config.kubernetes.featureGates)
  return gates.length ? { 'feature-gates': gates.map(([name, on]) => `${name}=${on}`).join(',') } : {}
}

/** v1beta4 lists `{name, value}`; earlier versions take a map. */
function extraArgs(api: KubeadmApiVersion, args: Args): Record<string, string> | Array<{ name: string; value: string }> | undefined {
  const entries = Object.entries(args)
  if (!entries.length) return undefined
  return api === 'kubeadm.k8s.io/v1beta4' ? entries.map(([name, value]) => ({ name, value })) : Object.fromEntries(entries)
}

/** The plan's image decisions, for callers without a plan (the catalog's default etcd for that Kubernetes). */
function imagesWithoutPlan(config: ClusterConfig): KubeadmImages {
  return kubeadmImages(config, componentDefaults(builtinCatalog, config.kubernetes.version).versions.etcd ?? '')
}

/** Where the ClusterConfiguration's external etcd is, when kk-action (kubekey) or the user (external) runs it. */
export interface ExternalEtcd {
  endpoints: string[]
  caFile: string
  certFile: string
  keyFile: string
}

export function certSans(config: ClusterConfig): string[] {
  const controlPlanes = config.hosts.filter((h) => h.roles.includes('control-plane'))
  const { domain, address } = config.controlPlaneEndpoint
  const sans = [
    'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${config.kubernetes.dnsDomain}`,
    'localhost', '127.0.0.1', domain, address,
    ...controlPlanes.flatMap((h) => [h.name, `${h.name}.${config.kubernetes.clusterName}`, h.address, h.internalAddress]),
    ...config.kubernetes.apiserverCertExtraSans,
  ]
  return [...new Set(sans.filter(Boolean))]
}

function etcdSection(config: ClusterConfig, external: ExternalEtcd | undefined, images: KubeadmImages): Record<string, unknown> {
  if (config.etcd.type === 'kubeadm') return { local: { dataDir: config.etcd.dataDir, ...images.etcd } }
  if (!external) throw new Error(`etcd.type ${config.etcd.type} needs the external etcd endpoints and certificate files`)
  return { external: { ...external } }
}

/** A control plane that is also a worker takes pods: registered without the control-plane taint (as KubeKey does). */
function nodeRegistration(config: ClusterConfig, host: Host, api: KubeadmApiVersion): Record<string, unknown> {
  const kubelet = { 'node-ip': host.internalAddress, ...parseArgList(config, 'kubeletArgs') }
  const registration: Record<string, unknown> = {
    name: host.name,
    criSocket: criSocket(config),
    kubeletExtraArgs: extraArgs(api, kubelet),
  }
  if (host.roles.includes('control-plane') && host.roles.includes('worker')) registration.taints = []
  return registration
}

function clusterConfiguration(
  config: ClusterConfig, api: KubeadmApiVersion, external: ExternalEtcd | undefined, images: KubeadmImages,
): Record<string, unknown> {
  const gates = featureGatesArg(config)
  const controllerManager: Args = { ...gates }
  const maskSize = config.kubernetes.extra.nodeCidrMaskSize
  if (typeof maskSize === 'number') controllerManager['node-cidr-mask-size'] = String(maskSize)
  const document: Record<string, unknown> = {
    apiVersion: api,
    kind: 'ClusterConfiguration',
    kubernetesVersion: config.kubernetes.version,
    clusterName: config.kubernetes.clusterName,
    controlPlaneEndpoint: controlPlaneEndpoint(config),
    certificatesDir: '/etc/kubernetes/pki',
    imageRepository: images.repository,
    dns: images.dns,
    networking: {
      dnsDomain: config.kubernetes.dnsDomain,
      podSubnet: config.network.kubePodsCIDR,
      serviceSubnet: config.network.kubeServiceCIDR,
    },
    etcd: etcdSection(config, external, images),
    apiServer: {
      certSANs: certSans(config),
      extraArgs: extraArgs(api, { ...gates, ...parseArgList(config, 'apiserverArgs') }),
    },
    controllerManager: { extraArgs: extraArgs(api, { ...controllerManager, ...parseArgList(config, 'controllerManagerArgs') }) },
    scheduler: { extraArgs: extraArgs(api, { ...gates, ...parseArgList(config, 'schedulerArgs') }) },
  }
  return document
}

function initConfiguration(config: ClusterConfig, host: Host, api: KubeadmApiVersion): Record<string, unknown> {
  const document: Record<string, unknown> = {
    apiVersion: api,
    kind: 'InitConfiguration',
    localAPIEndpoint: { advertiseAddress: host.internalAddress, bindPort: APISERVER_BIND_PORT },
    nodeRegistration: nodeRegistration(config, host, api),
  }
  if (config.kubernetes.extra.disableKubeProxy === true) {
    if (api === 'kubeadm.k8s.io/v1beta2') throw configError(config, 'spec.kubernetes.disableKubeProxy', 'needs Kubernetes >= v1.22 (kubeadm skipPhases)')
    document.skipPhases = ['addon/kube-proxy']
  }
  return document
}

function kubeletConfiguration(config: ClusterConfig): Record<string, unknown> {
  const { maxPods, podPidsLimit, featureGates, dnsDomain } = config.kubernetes
  const defaults: Record<string, unknown> = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    cgroupDriver: 'systemd',
    clusterDomain: dnsDomain,
    maxPods,
    podPidsLimit,
    rotateCertificates: true,
    containerLogMaxSize: '5Mi',
    containerLogMaxFiles: 3,
  }
  if (Object.keys(featureGates).length) defaults.featureGates = { ...featureGates }
  return withKind(deepMerge(defaults, passThrough(config, 'kubeletConfiguration')), defaults)
}

function kubeProxyConfiguration(config: ClusterConfig): Record<string, unknown> {
  const defaults: Record<string, unknown> = {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: config.kubernetes.proxyMode,
    clusterCIDR: config.network.kubePodsCIDR,
  }
  if (config.kubernetes.extra.masqueradeAll === true) defaults.iptables = { masqueradeAll: true }
  if (Object.keys(config.kubernetes.featureGates).length) defaults.featureGates = { ...config.kubernetes.featureGates }
  return withKind(deepMerge(defaults, passThrough(config, 'kubeProxyConfiguration')), defaults)
}

function passThrough(config: ClusterConfig, field: string): Record<string, unknown> {
  const value = config.kubernetes.extra[field]
  if (value === undefined) return {}
  if (!isPlainObject(value)) throw configError(config, `spec.kubernetes.${field}`, 'must be a mapping')
  return value
}

/** The user's pass-through may not change which document it is. */
function withKind(merged: Record<string, unknown>, defaults: Record<string, unknown>): Record<string, unknown> {
  return { ...merged, apiVersion: defaults.apiVersion, kind: defaults.kind }
}

/** Mappings merge key by key; anything else (lists included) from `over` replaces. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(over)) {
    const current = out[key]
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value
  }
  return out
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** YAML of several documents; undefined fields are left out. */
export function toYamlDocuments(documents: Array<Record<string, unknown>>): string {
  return documents.map((doc) => stringify(doc, { lineWidth: 0 })).map((text) => `---\n${text}`).join('')
}

/** Everything `kubeadm init --config` reads, for the first control plane. */
export function initDocuments(
  config: ClusterConfig, host: Host, external?: ExternalEtcd, images: KubeadmImages = imagesWithoutPlan(config),
): Array<Record<string, unknown>> {
  const api = kubeadmApiVersion(config.kubernetes.version)
  return [
    initConfiguration(config, host, api),
    clusterConfiguration(config, api, external, images),
    kubeletConfiguration(config),
    kubeProxyConfiguration(config),
  ].map(dropUndefined)
}

/** `images` is the plan's (plan.images); without it, decided the same way from the config. */
export function renderInitConfig(config: ClusterConfig, host: Host, external?: ExternalEtcd, images?: KubeadmImages): string {
  return toYamlDocuments(initDocuments(config, host, external, images))
}

/** What a host needs to join: from `kubeadm init`'s output or a fresh token on a rerun. Secrets. */
export interface JoinCredentials {
  /** host:port the joining kubelet bootstraps against. */
  apiServerEndpoint: string
  token: string
  /** `sha256:<hex>` of the cluster CA's public key. */
  caCertHash: string
  /** Decrypts the control-plane certificates `kubeadm init --upload-certs` stored; control planes only. */
  certificateKey?: string
}

export function joinDocument(config: ClusterConfig, host: Host, credentials: JoinCredentials, controlPlane: boolean): Record<string, unknown> {
  const api = kubeadmApiVersion(config.kubernetes.version)
  const document: Record<string, unknown> = {
    apiVersion: api,
    kind: 'JoinConfiguration',
    discovery: {
      bootstrapToken: {
        apiServerEndpoint: credentials.apiServerEndpoint,
        token: credentials.token,
        caCertHashes: [credentials.caCertHash],
      },
    },
    nodeRegistration: nodeRegistration(config, host, api),
  }
  if (controlPlane) {
    if (!credentials.certificateKey) throw new Error(`no certificate key to join ${host.name} as a control plane`)
    document.controlPlane = {
      localAPIEndpoint: { advertiseAddress: host.internalAddress, bindPort: APISERVER_BIND_PORT },
      certificateKey: credentials.certificateKey,
    }
  }
  return dropUndefined(document)
}

export function renderJoinConfig(config: ClusterConfig, host: Host, credentials: JoinCredentials, controlPlane: boolean): string {
  return toYamlDocuments([joinDocument(config, host, credentials, controlPlane)])
}

function dropUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(dropUndefined) as T
  if (!isPlainObject(value)) return value
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, dropUndefined(v)])) as T
}
