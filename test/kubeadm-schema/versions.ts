/**
 * What each kubeadm release accepts and pulls, for the kubeadm test double: a data table transcribed from
 * kubernetes/kubernetes cmd/kubeadm (app/constants: PauseVersion, CoreDNSVersion, SupportedEtcdVersion,
 * MinExternalEtcdVersion, DefaultImageRepository; app/apis/kubeadm/scheme: the registered API versions;
 * app/cmd/options and the cobra commands: the flags). Kept apart from src/ on purpose, so a wrong value in
 * kk-action is caught instead of copied. etcd and CoreDNS tags are those of each minor's .0 release (later
 * patches bumped etcd in some minors); pause, the image paths and the repository switch are exact per patch.
 */

interface MinorImages { pause: string; etcd: string; coredns: string }

const IMAGES: Record<number, MinorImages> = {
  19: { pause: '3.2', etcd: '3.4.13-0', coredns: '1.7.0' },
  20: { pause: '3.2', etcd: '3.4.13-0', coredns: '1.7.0' },
  21: { pause: '3.4.1', etcd: '3.4.13-0', coredns: 'v1.8.0' },
  22: { pause: '3.5', etcd: '3.5.0-0', coredns: 'v1.8.4' },
  23: { pause: '3.6', etcd: '3.5.1-0', coredns: 'v1.8.6' },
  24: { pause: '3.7', etcd: '3.5.3-0', coredns: 'v1.8.6' },
  25: { pause: '3.8', etcd: '3.5.4-0', coredns: 'v1.9.3' },
  26: { pause: '3.9', etcd: '3.5.6-0', coredns: 'v1.9.3' },
  27: { pause: '3.9', etcd: '3.5.7-0', coredns: 'v1.10.1' },
  28: { pause: '3.9', etcd: '3.5.9-0', coredns: 'v1.10.1' },
  29: { pause: '3.9', etcd: '3.5.10-0', coredns: 'v1.11.1' },
  30: { pause: '3.9', etcd: '3.5.12-0', coredns: 'v1.11.1' },
  31: { pause: '3.10', etcd: '3.5.15-0', coredns: 'v1.11.3' },
  32: { pause: '3.10', etcd: '3.5.16-0', coredns: 'v1.11.3' },
  33: { pause: '3.10', etcd: '3.5.21-0', coredns: 'v1.12.0' },
  34: { pause: '3.10.1', etcd: '3.6.4-0', coredns: 'v1.12.1' },
  35: { pause: '3.10.1', etcd: '3.6.5-0', coredns: 'v1.13.1' },
  36: { pause: '3.10.1', etcd: '3.6.6-0', coredns: 'v1.13.1' },
}

export function parse(version: string): [number, number, number] {
  const [a, b, c] = version.replace(/^v/, '').split(/[.-]/).map((n) => Number.parseInt(n, 10) || 0)
  return [a, b, c]
}

export function atLeast(version: string, min: string): boolean {
  const x = parse(version)
  const y = parse(min)
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] > y[i]
  return true
}

export function minor(version: string): number {
  return parse(version)[1]
}

export function knownVersion(version: string): boolean {
  return IMAGES[minor(version)] !== undefined
}

/** The default imageRepository: registry.k8s.io from 1.25.0 and the backports to 1.24.9 and 1.23.15. */
export function defaultRepository(version: string): string {
  const m = minor(version)
  const moved = m >= 25 || (m === 24 && atLeast(version, '1.24.9')) || (m === 23 && atLeast(version, '1.23.15'))
  return moved ? 'registry.k8s.io' : 'k8s.gcr.io'
}

/** The API versions kubeadm's scheme registers (v1beta1 until 1.21, v1beta2 1.15–1.25, v1beta3 from 1.22, v1beta4 from 1.31). */
export function acceptedApiVersions(version: string): string[] {
  const m = minor(version)
  const apis: string[] = []
  if (m <= 21) apis.push('kubeadm.k8s.io/v1beta1')
  if (m <= 25) apis.push('kubeadm.k8s.io/v1beta2')
  if (m >= 22) apis.push('kubeadm.k8s.io/v1beta3')
  if (m >= 31) apis.push('kubeadm.k8s.io/v1beta4')
  return apis
}

/** Unknown fields are errors for v1beta3 and later (strict decoding); earlier APIs drop them with a warning. */
export function strictApi(apiVersion: string): boolean {
  return apiVersion === 'kubeadm.k8s.io/v1beta3' || apiVersion === 'kubeadm.k8s.io/v1beta4'
}

/**
 * kubeadm's minimum external etcd: 3.2.18 until 1.27, 3.4.13-4 from 1.28 (kubernetes#118733), 3.5.24-0 from the
 * patches that raised the supported etcd to 3.5.24 (kubernetes#134779 and its backports: v1.31.14, v1.32.10,
 * v1.33.6, v1.34.2) and in every later minor.
 */
export function minExternalEtcd(version: string): string {
  const m = minor(version)
  const raised: Record<number, string> = { 31: '1.31.14', 32: '1.32.10', 33: '1.33.6', 34: '1.34.2' }
  if (m >= 35 || (raised[m] && atLeast(version, raised[m]))) return '3.5.24'
  if (m >= 28) return '3.4.13'
  return '3.2.18'
}

/** Before 1.24 kubeadm takes the built-in dockershim only for criSocket === this string (constants.DefaultDockerCRISocket). */
export const DOCKERSHIM = '/var/run/dockershim.sock'

export interface ImageSettings {
  imageRepository?: string
  dns?: { imageRepository?: string; imageTag?: string }
  /** Stacked etcd's image; absent for external etcd (kubeadm then pulls no etcd). */
  etcd?: { imageRepository?: string; imageTag?: string }
}

/** `kubeadm config images list` for a version and a ClusterConfiguration's image settings. */
export function imagesList(version: string, settings: ImageSettings): string[] {
  const facts = IMAGES[minor(version)]
  const fallback = defaultRepository(version)
  const repo = settings.imageRepository || fallback
  const v = `v${version.replace(/^v/, '')}`
  const images = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy'].map((c) => `${repo}/${c}:${v}`)
  images.push(`${repo}/pause:${facts.pause}`)
  if (settings.etcd) images.push(`${settings.etcd.imageRepository || repo}/etcd:${settings.etcd.imageTag || facts.etcd}`)
  // From 1.21 CoreDNS lives at coredns/coredns in kubeadm's own repository only; any other repository keeps it flat.
  let dnsRepo = settings.dns?.imageRepository || repo
  if (minor(version) >= 21 && dnsRepo === fallback) dnsRepo = `${dnsRepo}/coredns`
  images.push(`${dnsRepo}/coredns:${settings.dns?.imageTag || facts.coredns}`)
  return images
}

/** The pause image kubeadm uses for a ClusterConfiguration (what the CRI's sandbox image should be). */
export function pauseImage(version: string, settings: ImageSettings): string {
  return `${settings.imageRepository || defaultRepository(version)}/pause:${IMAGES[minor(version)].pause}`
}

interface FlagRule { name: string; from?: number; until?: number; value: boolean }
const f = (name: string, value = true, from?: number, until?: number): FlagRule => ({ name, value, from, until })

const GLOBAL = [f('v'), f('rootfs'), f('add-dir-header', false), f('log-file'), f('skip-headers', false), f('help', false)]

/** The flags kubeadm has per command (from cmd/kubeadm/app/cmd and options), with the minors they exist in. */
export const FLAGS: Record<string, FlagRule[]> = {
  init: [
    f('config'), f('upload-certs', false), f('ignore-preflight-errors'), f('skip-phases'), f('dry-run', false), f('kubernetes-version'),
    f('cri-socket'), f('node-name'), f('pod-network-cidr'), f('service-cidr'), f('service-dns-domain'), f('apiserver-advertise-address'),
    f('apiserver-bind-port'), f('apiserver-cert-extra-sans'), f('control-plane-endpoint'), f('certificate-key'), f('token'), f('token-ttl'),
    f('skip-token-print', false), f('skip-certificate-key-print', false), f('image-repository'), f('feature-gates'), f('cert-dir'),
    f('experimental-patches', true, 19, 23), f('patches', true, 22),
  ],
  'init phase upload-certs': [f('config'), f('upload-certs', false), f('certificate-key'), f('skip-certificate-key-print', false), f('kubeconfig')],
  join: [
    f('config'), f('token'), f('discovery-token'), f('discovery-token-ca-cert-hash'), f('discovery-token-unsafe-skip-ca-verification', false),
    f('discovery-file'), f('tls-bootstrap-token'), f('control-plane', false), f('certificate-key'), f('apiserver-advertise-address'),
    f('apiserver-bind-port'), f('cri-socket'), f('node-name'), f('ignore-preflight-errors'), f('skip-phases'), f('dry-run', false, 22),
    f('experimental-patches', true, 19, 23), f('patches', true, 22),
  ],
  'token create': [f('print-join-command', false), f('ttl'), f('usages'), f('groups'), f('description'), f('config'), f('certificate-key'), f('kubeconfig'), f('dry-run', false)],
  'token list': [f('kubeconfig'), f('output'), f('dry-run', false)],
  reset: [f('force', false), f('cri-socket'), f('ignore-preflight-errors'), f('cert-dir'), f('kubeconfig'), f('skip-phases'), f('dry-run', false),
    f('cleanup-tmp-dir', false, 27), f('config', true, 31)],
  version: [f('output')],
  'config images list': [f('config'), f('kubernetes-version'), f('image-repository'), f('feature-gates'), f('output'), f('allow-missing-template-keys', false), f('show-managed-fields', false)],
  'config images pull': [f('config'), f('kubernetes-version'), f('image-repository'), f('cri-socket'), f('feature-gates')],
}

const SHORT: Record<string, string> = { f: 'force', o: 'output', h: 'help' }

export interface ParsedCall { command: string; flags: Map<string, string>; positional: string[]; problems: string[] }

/** Splits argv into the command path kubeadm knows, its flags and positionals; unknown flags are problems. */
export function parseCall(version: string, argv: string[]): ParsedCall {
  const words = argv.filter((a) => !a.startsWith('-'))
  const command = ['init phase upload-certs', 'token create', 'token list', 'config images list', 'config images pull', 'init', 'join', 'reset', 'version']
    .find((c) => c.split(' ').every((w, i) => words[i] === w)) ?? ''
  const rules = [...GLOBAL, ...(FLAGS[command] ?? [])].filter((r) => (r.from === undefined || minor(version) >= r.from) && (r.until === undefined || minor(version) <= r.until))
  const flags = new Map<string, string>()
  const positional: string[] = []
  const problems: string[] = []
  const skipWords = command ? command.split(' ').length : 0
  let seenWords = 0
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (!arg.startsWith('-')) {
      if (seenWords++ >= skipWords) positional.push(arg)
      continue
    }
    const match = /^--?([^=]+)(?:=(.*))?$/.exec(arg)
    const name = match ? (arg.startsWith('--') ? match[1] : SHORT[match[1]] ?? match[1]) : arg
    const rule = rules.find((r) => r.name === name)
    if (!rule) {
      if (command) problems.push(`unknown flag: ${arg.split('=')[0]}`)
      continue
    }
    let value = match?.[2] ?? ''
    if (rule.value && match?.[2] === undefined) value = argv[++i] ?? ''
    flags.set(name, value)
  }
  return { command, flags, positional, problems }
}

/** Flags kubeadm init/join take together with --config (cmd/kubeadm/app/apis/kubeadm/validation ValidateMixedArguments). */
const MIXABLE = new Set(['config', 'ignore-preflight-errors', 'dry-run', 'kubeconfig', 'node-name', 'cri-socket', 'upload-certs',
  'print-join-command', 'rootfs', 'v', 'log-file', 'patches', 'experimental-patches', 'certificate-key'])

export function mixedWithConfig(call: ParsedCall): string[] {
  if (!call.flags.has('config') || !['init', 'join'].includes(call.command)) return []
  return [...call.flags.keys()].filter((name) => !MIXABLE.has(name) && !name.startsWith('skip-'))
}
