import type { ClusterConfig, Host } from '../config/types.js'
import { raw, sh } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
import { HAPROXY_MANIFEST } from './lb-haproxy.js'
import { defineModule, nothingNeeded, placeholder, type NodeFile } from './module.js'
import { putNodeFile } from './steps.js'

const HOSTS_BEGIN = '# kk-action hosts BEGIN'
const HOSTS_END = '# kk-action hosts END'

const KUBERNETES_SYSCTLS = {
  'net.ipv4.ip_forward': '1',
  'net.bridge.bridge-nf-call-iptables': '1',
  'net.bridge.bridge-nf-call-ip6tables': '1',
  'net.ipv4.conf.all.rp_filter': '0',
  'vm.overcommit_memory': '1',
  'kernel.panic': '10',
  'kernel.panic_on_oops': '1',
  'fs.inotify.max_user_watches': '524288',
  'fs.inotify.max_user_instances': '512',
}

function kernelModules(config: ClusterConfig): string[] {
  const modules = ['overlay', 'br_netfilter']
  return config.kubernetes.proxyMode === 'ipvs' ? [...modules, 'ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh', 'nf_conntrack'] : modules
}

async function disableSwap(t: TaskContext): Promise<void> {
  const active = (await t.exec(raw('tail -n +2 /proc/swaps'))).stdout.trim()
  if (active) {
    await t.exec(raw('swapoff -a'))
    t.changed()
  }
  const inFstab = await t.exec(raw(`grep -Eq '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab`), { allowFailure: true })
  if (inFstab.code === 0) {
    await t.exec(raw(`sed -ri.kk-action.bak 's/^([^#].*[[:space:]]swap[[:space:]].*)$/# \\1  # disabled by kk-action/' /etc/fstab`))
    t.changed()
  }
}

export function kernelModulesFile(config: ClusterConfig): NodeFile {
  return { path: '/etc/modules-load.d/kubernetes.conf', mode: 0o644, content: `${kernelModules(config).join('\n')}\n` }
}

async function loadKernelModules(t: TaskContext): Promise<void> {
  const modules = kernelModules(t.config)
  if (await putNodeFile(t, kernelModulesFile(t.config))) t.changed()
  for (const module of modules) {
    const loaded = await t.exec(sh`test -d /sys/module/${module}`, { allowFailure: true })
    if (loaded.code === 0) continue
    const probe = await t.exec(sh`modprobe ${module}`, { allowFailure: true })
    if (probe.code === 0) t.changed()
    else t.warn(`kernel module ${module} could not be loaded on ${t.host.name}: ${probe.stderr.trim() || `exit ${probe.code}`}`)
  }
}

export function sysctlFile(): NodeFile {
  const content = Object.entries(KUBERNETES_SYSCTLS).map(([key, value]) => `${key} = ${value}`).join('\n') + '\n'
  return { path: '/etc/sysctl.d/99-kubernetes.conf', mode: 0o644, content }
}

async function applySysctls(t: TaskContext): Promise<void> {
  const changed = await putNodeFile(t, sysctlFile())
  const current = await t.exec(sh`sysctl -n ${Object.keys(KUBERNETES_SYSCTLS)}`, { allowFailure: true })
  const values = current.stdout.split('\n').map((l) => l.trim())
  const drifted = Object.values(KUBERNETES_SYSCTLS).some((value, i) => values[i] !== value)
  if (changed || drifted) {
    const applied = await t.exec(raw('sysctl -p /etc/sysctl.d/99-kubernetes.conf'), { allowFailure: true })
    if (applied.code !== 0) t.warn(`some sysctls could not be set on ${t.host.name}: ${applied.stderr.trim().split('\n')[0]}`)
    t.changed()
  }
}

/** Where the control-plane domain points on a worker once its haproxy runs. */
export const LOCAL_HAPROXY = '127.0.0.1'

/** The managed block of /etc/hosts: every node, and the control-plane domain at `controlPlaneAt`. */
export function hostsBlock(config: ClusterConfig, controlPlaneAt = controlPlaneAddress(config)): string {
  const lines = config.hosts.map((h) => `${h.internalAddress}  ${h.name}.${config.kubernetes.clusterName} ${h.name}`)
  lines.push(`${controlPlaneAt}  ${config.controlPlaneEndpoint.domain}`)
  return [HOSTS_BEGIN, ...lines, HOSTS_END].join('\n')
}

/**
 * Where the control-plane domain points before a host joins: an apiserver that exists by then. The configured
 * address (an external load balancer, kube-vip's VIP), else the first control plane. Never a host's own
 * address (its apiserver starts only when it has joined) nor a local haproxy (its static pod needs the
 * kubelet that `kubeadm join` starts): load-balancer moves workers to their haproxy after the join.
 */
function controlPlaneAddress(config: ClusterConfig): string {
  const endpoint = config.controlPlaneEndpoint
  if (endpoint.address && endpoint.internalLoadbalancer !== 'haproxy') return endpoint.address
  const first = config.hosts.find((h) => h.name === config.roleGroups['control-plane'][0])!
  return first.internalAddress
}

/**
 * A worker that has its haproxy (load-balancer put it there after the join) keeps the domain on it: a rerun
 * does not send it back and forth.
 */
async function domainTarget(t: TaskContext): Promise<string> {
  const behindHaproxy = t.config.controlPlaneEndpoint.internalLoadbalancer === 'haproxy' && !t.host.roles.includes('control-plane')
  if (!behindHaproxy) return controlPlaneAddress(t.config)
  const ready = await t.exec(sh`test -f ${HAPROXY_MANIFEST}`, { allowFailure: true })
  return ready.code === 0 ? LOCAL_HAPROXY : controlPlaneAddress(t.config)
}

export function withHostsBlock(current: string, block: string): string {
  const pattern = new RegExp(`${HOSTS_BEGIN}[\\s\\S]*?${HOSTS_END}\\n?`)
  const base = current.replace(pattern, '').replace(/\n*$/, '\n')
  return `${base}${block}\n`
}

/** The node's own /etc/hosts (`current`, ending in a newline) with kk-action's block. */
export function etcHostsFile(config: ClusterConfig, current: string, controlPlaneAt?: string): NodeFile {
  return { path: '/etc/hosts', mode: 0o644, content: withHostsBlock(current, hostsBlock(config, controlPlaneAt)) }
}

/** Writes the managed block of /etc/hosts with the control-plane domain at `controlPlaneAt`. */
export async function writeEtcHosts(t: TaskContext, controlPlaneAt?: string): Promise<void> {
  const current = (await t.exec(raw('cat /etc/hosts'))).stdout
  const file = etcHostsFile(t.config, current.endsWith('\n') ? current : `${current}\n`, controlPlaneAt ?? (await domainTarget(t)))
  if (file.content !== current && (await putNodeFile(t, file))) t.changed()
}

export function hostnameFile(host: Host): NodeFile {
  return { path: '/etc/hostname', mode: 0o644, content: `${host.name}\n` }
}

async function setHostname(t: TaskContext): Promise<void> {
  const current = (await t.exec(raw('hostname'))).stdout.trim()
  if (current === t.host.name) return
  await t.exec(sh`hostname ${t.host.name}`)
  await putNodeFile(t, hostnameFile(t.host))
  t.changed()
}

async function setTimezone(t: TaskContext): Promise<void> {
  const zone = t.config.system.timezone
  if (typeof zone !== 'string' || !zone) return
  const current = (await t.exec(raw('cat /etc/timezone 2>/dev/null || readlink /etc/localtime'), { allowFailure: true })).stdout.trim()
  if (current === zone || current.endsWith(`/zoneinfo/${zone}`)) return
  await t.exec(sh`test -e /usr/share/zoneinfo/${zone} && ln -sf /usr/share/zoneinfo/${zone} /etc/localtime && echo ${zone} > /etc/timezone`)
  t.changed()
}

/** systemd-timesyncd's drop-in for spec.system.ntpServers; undefined when none are set. */
export function timesyncdFile(config: ClusterConfig): NodeFile | undefined {
  const servers = config.system.ntpServers
  if (!Array.isArray(servers) || !servers.length) return undefined
  return { path: '/etc/systemd/timesyncd.conf.d/kk-action.conf', mode: 0o644, content: `[Time]\nNTP=${servers.join(' ')}\n` }
}

async function configureNtp(t: TaskContext): Promise<void> {
  const file = timesyncdFile(t.config)
  if (!file) return
  if (await putNodeFile(t, file)) {
    const restarted = await t.exec(raw('systemctl restart systemd-timesyncd'), { allowFailure: true })
    if (restarted.code !== 0) t.warn(`${t.host.name} has no systemd-timesyncd; spec.system.ntpServers was written but is not in use`)
    t.changed()
  }
}

/** Swap off, kernel modules, sysctls, /etc/hosts, hostname, timezone/NTP: what kubeadm's preflight expects. */
export const configureOs = defineModule({
  id: 'configure-os',
  hosts: (ctx) => ctx.config.hosts,
  skip: ({ config }) => (config.system.skipConfigureOS === true ? 'system.skipConfigureOS is true' : undefined),
  needs: nothingNeeded,
  tasks: () => [
    { name: 'swap off', run: disableSwap },
    { name: 'kernel modules', run: loadKernelModules },
    { name: 'sysctls', run: applySysctls },
    { name: '/etc/hosts', run: (t) => writeEtcHosts(t) },
    { name: 'hostname', run: setHostname },
    { name: 'timezone', run: setTimezone },
    { name: 'NTP servers', run: configureNtp },
  ],
  files: ({ config }, host) => {
    const ntp = timesyncdFile(config)
    return [
      kernelModulesFile(config),
      sysctlFile(),
      { ...etcHostsFile(config, `# ${placeholder("the node's own /etc/hosts lines stay here")}\n`), note: 'the block between the kk-action markers replaces an earlier one; the node\'s own lines stay; on a worker behind haproxy, load-balancer points the domain at 127.0.0.1 after the join' },
      { ...hostnameFile(host), note: 'written only when the hostname differs' },
      ...(ntp ? [ntp] : []),
    ]
  },
})
