import type { ClusterConfig } from '../config/types.js'
import { UserError } from '../errors.js'

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

/** Replaces exactly one match, or says the upstream manifest no longer has the shape this renders. */
function replaceOnce(text: string, pattern: RegExp, replacement: string, what: string): string {
  const matches = text.match(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`))
  if (matches?.length !== 1) throw new Error(`the network manifest has ${matches?.length ?? 0} ${what} where one was expected; it cannot be rendered`)
  return text.replace(pattern, replacement)
}

/**
 * Upstream calico.yaml with the config's pod CIDR (its commented-out CALICO_IPV4POOL_CIDR set) and KubeKey's
 * ipipMode (default Always) / vxlanMode (default Never); a VXLAN-only pool needs no BGP, so the backend is vxlan.
 */
export function renderCalico(manifest: string, config: ClusterConfig): string {
  const ipip = calicoMode(config, 'ipipMode', 'Always')
  const vxlan = calicoMode(config, 'vxlanMode', 'Never')
  if (ipip !== 'Never' && vxlan !== 'Never') {
    throw new UserError('network.calico.ipipMode and vxlanMode are both enabled', { file: config.file, field: 'spec.network.calico.vxlanMode' },
      'Enable one encapsulation: set the other to Never')
  }
  let out = replaceOnce(manifest, /^(\s*)# - name: CALICO_IPV4POOL_CIDR\n\s*# {3}value: "[^"]*"$/m,
    `$1- name: CALICO_IPV4POOL_CIDR\n$1  value: "${ipv4PodCIDR(config)}"`, 'CALICO_IPV4POOL_CIDR entries')
  out = replaceOnce(out, /^(\s*- name: CALICO_IPV4POOL_IPIP\n\s*value: )"[^"]*"$/m, `$1"${ipip}"`, 'CALICO_IPV4POOL_IPIP entries')
  out = replaceOnce(out, /^(\s*- name: CALICO_IPV4POOL_VXLAN\n\s*value: )"[^"]*"$/m, `$1"${vxlan}"`, 'CALICO_IPV4POOL_VXLAN entries')
  if (vxlan !== 'Never') out = replaceOnce(out, /^(\s*calico_backend: )"bird"$/m, '$1"vxlan"', 'calico_backend settings')
  return out
}

/** Upstream kube-flannel.yml with the pod CIDR in net-conf.json and KubeKey's flannel.backendMode (default vxlan). */
export function renderFlannel(manifest: string, config: ClusterConfig): string {
  const backend = pluginSettings(config, 'flannel').backendMode ?? 'vxlan'
  if (!(FLANNEL_BACKENDS as readonly unknown[]).includes(backend)) {
    throw new UserError(`network.flannel.backendMode is "${String(backend)}"`, { file: config.file, field: 'spec.network.flannel.backendMode' },
      `Use one of ${FLANNEL_BACKENDS.join(', ')}`)
  }
  const out = replaceOnce(manifest, /("Network": )"[^"]*"/, `$1"${ipv4PodCIDR(config)}"`, 'net-conf.json Network fields')
  return replaceOnce(out, /("Backend": \{\s*"Type": )"[^"]*"/, `$1"${String(backend)}"`, 'net-conf.json Backend types')
}

/** helm `--set` values that put cilium's cluster-pool IPAM on the config's pod CIDR. */
export function ciliumValues(config: ClusterConfig): string[] {
  return [
    'ipam.mode=cluster-pool',
    `ipam.operator.clusterPoolIPv4PodCIDRList={${ipv4PodCIDR(config)}}`,
    'ipam.operator.clusterPoolIPv4MaskSize=24',
  ]
}

/** What `kubectl rollout status` awaits after applying each plugin: namespace and workloads. */
export const ROLLOUTS: Record<'calico' | 'flannel' | 'cilium', { namespace: string; workloads: string[] }> = {
  calico: { namespace: 'kube-system', workloads: ['daemonset/calico-node', 'deployment/calico-kube-controllers'] },
  flannel: { namespace: 'kube-flannel', workloads: ['daemonset/kube-flannel-ds'] },
  cilium: { namespace: 'kube-system', workloads: ['daemonset/cilium', 'deployment/cilium-operator'] },
}
