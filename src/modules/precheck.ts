import type { Arch, ClusterConfig, Host } from '../config/types.js'
import { UserError } from '../errors.js'
import { raw, sh } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
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

function requiredCommands(config: ClusterConfig): string[] {
  const commands = ['conntrack', 'socat', 'iptables', 'ipset']
  return config.kubernetes.proxyMode === 'ipvs' ? [...commands, 'ipvsadm'] : commands
}

/** Debian/Ubuntu package that provides each command (RHEL-family names match except where noted). */
const PACKAGE_OF: Record<string, string> = { conntrack: 'conntrack', socat: 'socat', iptables: 'iptables', ipset: 'ipset', ipvsadm: 'ipvsadm' }

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

async function checkCommands(t: TaskContext): Promise<void> {
  const wanted = requiredCommands(t.config)
  const probe = await t.exec(sh`for c in ${wanted}; do command -v "$c" >/dev/null 2>&1 || echo "$c"; done`)
  const missing = probe.stdout.split('\n').map((l) => l.trim()).filter(Boolean)
  if (!missing.length) return
  const packages = missing.map((c) => PACKAGE_OF[c] ?? c)
  throw new UserError(`missing command(s): ${missing.join(', ')}`, { host: t.host.name },
    `Install them (apt-get install -y ${packages.join(' ')} / dnf install -y ${packages.join(' ')}), ` +
    `or list the packages in spec.system.debs / spec.system.rpms to let kk-action install them`)
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
          { name: 'install spec.system packages', run: installExtraPackages, timeoutMs: 900_000 },
          { name: 'required commands', run: checkCommands },
          { name: 'swap', run: checkSwap },
          { name: 'ports are free', run: checkPorts },
          { name: 'read the clock', run: measureClock },
          { name: 'clocks agree', hosts: (hosts: Host[]) => hosts.slice(0, 1), run: compareClocks },
        ]
      : []),
  ],
})
