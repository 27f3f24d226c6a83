import type { Arch, ClusterConfig, Host } from '../config/types.js'
import { UserError } from '../errors.js'
import { raw, sh } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
import { atLeast } from '../plan/version.js'
import { recordMachineOwn } from './machine-own.js'
import { alwaysRuns, defineModule, nothingNeeded } from './module.js'

/** OS releases the modules' shell is written and tested for; others get a warning, not a refusal. */
export const SUPPORTED_OS = ['ubuntu 22.04', 'ubuntu 24.04', 'debian 12']

const UNAME_ARCH: Record<string, Arch> = { x86_64: 'amd64', aarch64: 'arm64', arm64: 'arm64' }

/** Ports kubeadm and etcd bind, and the process allowed to hold each (our own, on a rerun). */
function portsFor(host: Host, config: ClusterConfig): Array<{ port: number; owner: string }> {
  const ports: Array<{ port: number; owner: string }> = []
  if (host.roles.includes('control-plane')) ports.push({ port: 6443, owner: 'kube-apiserver' })
  if (host.roles.includes('control-plane') || host.roles.includes('worker')) ports.push({ port: 10250, owner: 'kubelet' })
  const runsEtcd = (config.etcd.type === 'kubekey' && host.roles.includes('etcd')) ||
    (config.etcd.type === 'kubeadm' && host.roles.includes('control-plane'))
  if (runsEtcd) ports.push({ port: 2379, owner: 'etcd' }, { port: 2380, owner: 'etcd' })
  return ports
}

/** A command a node needs on PATH, the packages that provide it, and what happens without it. */
export interface RequiredTool {
  command: string
  deb: string
  rpm: string
  /** An error (kubeadm's preflight refuses, or the proxy mode needs it), or a warning (kubeadm only warns). */
  level: 'error' | 'warning'
  why: string
}

/**
 * kubeadm's preflight InPathChecks (cmd/kubeadm/app/preflight, addExecChecks): conntrack is mandatory below
 * v1.32 (kube-proxy stopped needing it, kubernetes#126952), ip, iptables, mount and nsenter always; socat
 * only warns (kubectl port-forward needs it). kubeadm's other warnings (ebtables, ethtool, tc, touch) are
 * left to kubeadm to print. ipset and ipvsadm for proxyMode ipvs, as KubeKey installs them (the cleanup
 * clears the ipvs table with ipvsadm).
 */
export function requiredTools(config: ClusterConfig): RequiredTool[] {
  const version = config.kubernetes.version
  const kubeadm = (command: string, deb: string, rpm: string, level: RequiredTool['level']): RequiredTool =>
    ({ command, deb, rpm, level, why: `kubeadm ${version} preflight ${level === 'error' ? 'fails' : 'warns'} without it` })
  const tools = [
    ...(atLeast(version, 'v1.32.0') ? [] : [kubeadm('conntrack', 'conntrack', 'conntrack-tools', 'error')]),
    kubeadm('ip', 'iproute2', 'iproute', 'error'),
    kubeadm('iptables', 'iptables', 'iptables', 'error'),
    kubeadm('mount', 'mount', 'util-linux', 'error'),
    kubeadm('nsenter', 'util-linux', 'util-linux', 'error'),
    kubeadm('socat', 'socat', 'socat', 'warning'),
  ]
  if (config.kubernetes.proxyMode !== 'ipvs') return tools
  const ipvs = (command: string): RequiredTool => ({ command, deb: command, rpm: command, level: 'error', why: 'kubernetes.proxyMode is ipvs' })
  return [...tools, ipvs('ipset'), ipvs('ipvsadm')]
}

async function checkSudo(t: TaskContext): Promise<void> {
  const result = await t.exec(raw('id -u'), { allowFailure: true, timeoutMs: 30_000 })
  if (result.code !== 0 || result.stdout.trim() !== '0') {
    throw new UserError(`sudo does not give root (id -u printed "${result.stdout.trim()}")`, { host: t.host.name },
      `Give user ${t.host.user} sudo rights (NOPASSWD, or its password in the config)`)
  }
}

async function checkArch(t: TaskContext): Promise<void> {
  const machine = (await t.exec(raw('uname -m'))).stdout.trim()
  const actual = UNAME_ARCH[machine]
  if (actual !== t.host.arch) {
    throw new UserError(`the config says arch ${t.host.arch} but the machine is ${machine}${actual ? ` (${actual})` : ''}`,
      { host: t.host.name, field: `spec.hosts[${t.config.hosts.indexOf(t.host)}].arch` },
      actual ? `Set arch: ${actual} for this host` : 'kk-action supports amd64 and arm64 hosts')
  }
}

async function checkOs(t: TaskContext): Promise<void> {
  const release = (await t.exec(raw('. /etc/os-release && echo "$ID $VERSION_ID"'), { allowFailure: true })).stdout.trim()
  if (!SUPPORTED_OS.includes(release)) {
    t.warn(`${t.host.name} runs "${release || 'an unknown OS'}"; kk-action is tested on ${SUPPORTED_OS.join(', ')}`)
  }
}

async function installExtraPackages(t: TaskContext): Promise<void> {
  const debs = stringList(t.config.system.debs)
  const rpms = stringList(t.config.system.rpms)
  const hasApt = (await t.exec(raw('command -v apt-get'), { allowFailure: true })).code === 0
  const packages = hasApt ? debs : rpms
  if (!packages.length) return
  const missing = (await t.exec(sh`${hasApt ? 'dpkg-query' : 'rpm'} ${hasApt ? ['-W', ...packages] : ['-q', ...packages]}`, { allowFailure: true })).code !== 0
  if (!missing) return
  const install = hasApt
    ? sh`DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${packages}`
    : sh`(command -v dnf >/dev/null && dnf install -y ${packages}) || yum install -y ${packages}`
  await t.exec(install, { timeoutMs: 600_000 })
  t.changed()
}

async function missingTools(t: TaskContext, tools: RequiredTool[]): Promise<RequiredTool[]> {
  const probe = await t.exec(sh`for c in ${tools.map((tool) => tool.command)}; do command -v "$c" >/dev/null 2>&1 || echo "$c"; done`)
  const missing = new Set(probe.stdout.split('\n').map((l) => l.trim()).filter(Boolean))
  return tools.filter((tool) => missing.has(tool.command))
}

type PackageManager = 'apt' | 'dnf'

async function packageManager(t: TaskContext): Promise<PackageManager | undefined> {
  const found = await t.exec(raw('if command -v apt-get >/dev/null 2>&1; then echo apt; elif command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null 2>&1; then echo dnf; fi'), { allowFailure: true })
  const name = found.stdout.trim()
  return name === 'apt' || name === 'dnf' ? name : undefined
}

function installCommandText(manager: PackageManager, packages: string[]): string {
  return manager === 'apt' ? `apt-get install -y ${packages.join(' ')}` : `dnf install -y ${packages.join(' ')}`
}

/** The packages as spec.system.debs/rpms are installed; apt's package lists refreshed once when they are stale. */
async function installPackages(t: TaskContext, manager: PackageManager, packages: string[]): Promise<{ ok: boolean; detail: string }> {
  const install = manager === 'apt'
    ? sh`DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${packages}`
    : sh`(command -v dnf >/dev/null && dnf install -y ${packages}) || yum install -y ${packages}`
  let result = await t.exec(install, { allowFailure: true, timeoutMs: 600_000 })
  if (result.code !== 0 && manager === 'apt') {
    await t.exec(raw('DEBIAN_FRONTEND=noninteractive apt-get update -q'), { allowFailure: true, timeoutMs: 600_000 })
    result = await t.exec(install, { allowFailure: true, timeoutMs: 600_000 })
  }
  const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').filter((l) => /^E:|rror/.test(l)).slice(-2).join('; ')
  return { ok: result.code === 0, detail: detail || `exit code ${result.code}` }
}

function describeTools(tools: RequiredTool[]): string {
  return tools.map((tool) => `${tool.command} (${tool.why})`).join(', ')
}

/**
 * What kubeadm and the proxy mode need on PATH. Missing ones are installed with the host's package manager
 * (as spec.system.debs/rpms are: a hosted runner lacks conntrack and socat); what is still missing after that
 * fails the precheck (errors) or is warned about, naming the packages and the command that installs them.
 */
async function checkCommands(t: TaskContext): Promise<void> {
  const tools = requiredTools(t.config)
  const missing = await missingTools(t, tools)
  if (!missing.length) return
  const manager = await packageManager(t)
  let failure = manager ? '' : 'no apt-get, dnf or yum on this host'
  if (manager) {
    const packages = [...new Set(missing.map((tool) => (manager === 'apt' ? tool.deb : tool.rpm)))]
    t.warn(`${t.host.name} lacks ${missing.map((tool) => tool.command).join(', ')}: installing ${packages.join(' ')} with ${manager === 'apt' ? 'apt-get' : 'dnf'}`)
    const installed = await installPackages(t, manager, packages)
    t.changed()
    if (installed.ok) t.log(`installed ${packages.join(' ')}`)
    else failure = `${installCommandText(manager, packages)} failed: ${installed.detail}`
  }
  const still = manager ? await missingTools(t, missing) : missing
  if (manager && !failure && still.length) failure = `${installCommandText(manager, [...new Set(still.map((tool) => (manager === 'apt' ? tool.deb : tool.rpm)))])} succeeded, but ${still.map((tool) => tool.command).join(', ')} is still not on PATH`
  const errors = still.filter((tool) => tool.level === 'error')
  const warnings = still.filter((tool) => tool.level === 'warning')
  const how = (list: RequiredTool[]) => manager
    ? installCommandText(manager, [...new Set(list.map((tool) => (manager === 'apt' ? tool.deb : tool.rpm)))])
    : `apt-get install -y ${list.map((tool) => tool.deb).join(' ')} / dnf install -y ${list.map((tool) => tool.rpm).join(' ')}`
  if (warnings.length) t.warn(`${t.host.name} lacks ${describeTools(warnings)}${failure ? ` (${failure})` : ''}; install it with: ${how(warnings)}`)
  if (!errors.length) return
  throw new UserError(`missing command(s): ${describeTools(errors)}${failure ? `; ${failure}` : ''}`, { host: t.host.name },
    `Install them (${how(errors)}), or list the packages in spec.system.debs / spec.system.rpms`)
}

/** kube-proxy in ipvs mode needs these kernel modules: older releases fall back to iptables without them, newer ones crash. */
export const IPVS_MODULES = ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh']

const MISSING_MODULES = `for m in "$@"; do
  [ -d "/sys/module/$m" ] || modprobe -n -q "$m" 2>/dev/null || echo "$m"
done; true`

async function checkIpvs(t: TaskContext): Promise<void> {
  if (t.config.kubernetes.proxyMode !== 'ipvs') return
  const missing = (await t.exec(sh`sh -c ${MISSING_MODULES} kk-ipvs ${IPVS_MODULES}`)).stdout.split('\n').map((l) => l.trim()).filter(Boolean)
  if (!missing.length) return
  throw new UserError(`kubernetes.proxyMode is ipvs, but the kernel cannot load ${missing.join(', ')}: kube-proxy would fall back to iptables (before v1.26) or fail to start`,
    { host: t.host.name, file: t.config.file, field: 'spec.kubernetes.proxyMode' },
    'Set kubernetes.proxyMode: iptables, or install the kernel modules (linux-modules-extra on Ubuntu)')
}

async function checkSwap(t: TaskContext): Promise<void> {
  const swaps = (await t.exec(raw('tail -n +2 /proc/swaps'), { allowFailure: true })).stdout.trim()
  if (swaps) t.log('swap is on; configure-os turns it off (kubelet requires it)')
}

async function checkPorts(t: TaskContext): Promise<void> {
  const ports = portsFor(t.host, t.config)
  if (!ports.length) return
  const listing = await t.exec(raw('ss -Hltnp'), { allowFailure: true })
  const taken: string[] = []
  for (const { port, owner } of ports) {
    const line = listing.stdout.split('\n').find((l) => new RegExp(`:${port}\\s`).test(l))
    if (!line) continue
    const process = /users:\(\("([^"]+)",pid=(\d+)/.exec(line)
    const name = process?.[1] ?? 'an unknown process'
    if (name === owner) continue
    taken.push(`${port} by ${name}${process ? ` (pid ${process[2]})` : ''}`)
  }
  if (taken.length) {
    throw new UserError(`port(s) already in use: ${taken.join(', ')}`, { host: t.host.name },
      'Stop what holds them, or run `kk-action delete` if an earlier cluster is left over')
  }
}

/** The node's clock minus the runner's, compensating for the round trip. */
async function measureClock(t: TaskContext): Promise<void> {
  const before = Date.now()
  const remote = Number((await t.exec(raw('date +%s%3N'))).stdout.trim())
  const after = Date.now()
  t.shared.set(`clock-offset:${t.host.name}`, remote - (before + after) / 2)
}

const SKEW_WARNING_MS = 1_000
const SKEW_LIMIT_MS = 30_000

async function compareClocks(t: TaskContext): Promise<void> {
  const offsets = t.config.hosts.map((h) => ({ host: h.name, offset: t.shared.get(`clock-offset:${h.name}`) as number }))
    .filter((o) => Number.isFinite(o.offset))
  if (offsets.length < 2) return
  offsets.sort((a, b) => a.offset - b.offset)
  const first = offsets[0]
  const last = offsets[offsets.length - 1]
  const skew = last.offset - first.offset
  const text = `clocks differ by ${(skew / 1000).toFixed(1)}s between ${first.host} and ${last.host}`
  if (skew > SKEW_LIMIT_MS) {
    throw new UserError(text, { host: last.host }, 'Synchronise the clocks (NTP; spec.system.ntpServers): certificates and etcd need them close')
  }
  if (skew > SKEW_WARNING_MS) t.warn(`${text}; configure NTP (spec.system.ntpServers)`)
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
}

/** Checks every host before anything changes: sudo, arch, OS, commands, swap, clock, ports. */
export const precheck = defineModule({
  id: 'precheck',
  hosts: (ctx) => ctx.config.hosts,
  skip: alwaysRuns,
  needs: nothingNeeded,
  tasks: (ctx) => [
    { name: 'sudo gives root', retries: 1, run: checkSudo },
    { name: 'machine arch matches the config', run: checkArch },
    { name: 'supported OS', run: checkOs },
    ...(ctx.pipeline === 'create'
      ? [
          { name: "record the machine's own services and data", run: recordMachineOwn },
          { name: 'install spec.system packages', run: installExtraPackages, timeoutMs: 900_000 },
          { name: 'required commands', timeoutMs: 1_300_000, run: checkCommands },
          { name: 'ipvs kernel modules', run: checkIpvs },
          { name: 'swap', run: checkSwap },
          { name: 'ports are free', run: checkPorts },
          { name: 'read the clock', run: measureClock },
          { name: 'clocks agree', hosts: (hosts: Host[]) => hosts.slice(0, 1), run: compareClocks },
        ]
      : []),
  ],
})
