/**
 * precheck's required commands, run as real sh on this machine against a stand-in host: a directory that is
 * the host's whole PATH, holding the commands the host "has", and an apt-get test double that installs
 * (creates) the commands of the packages its "repository" offers, as a hosted runner's apt would.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { ClusterConfig } from '../../src/config/types.js'
import { precheck, requiredTools } from '../../src/modules/precheck.js'
import type { TaskContext } from '../../src/pipeline/types.js'
import type { PlanContext } from '../../src/plan/types.js'
import { makeConfig } from '../plan/make-config.js'

// Stands in for apt-get: `install` fails like apt ("Unable to locate package") unless every package is in the
// repository (repo/<package> lists the commands it provides); `update` makes repo-after-update/ the repository.
const APT_GET_DOUBLE = `#!/bin/sh
# Test double for apt-get (not the real one): see test/modules/precheck.test.ts.
PATH=/usr/bin:/bin
here=$(dirname "$0"); root=$(dirname "$here")
echo "apt-get $*" >> "$root/apt.log"
case "$1" in
  update) [ -d "$root/repo-after-update" ] && cp "$root"/repo-after-update/* "$root/repo/" 2>/dev/null; exit 0 ;;
  install) shift ;;
  *) exit 0 ;;
esac
for p in "$@"; do
  case "$p" in -*) continue ;; esac
  if [ ! -f "$root/repo/$p" ]; then echo "E: Unable to locate package $p" >&2; exit 100; fi
done
for p in "$@"; do
  case "$p" in -*) continue ;; esac
  for c in $(cat "$root/repo/$p"); do printf '#!/bin/sh\\n' > "$here/$c"; chmod +x "$here/$c"; done
done`

interface Host {
  root: string
  warnings: string[]
  logs: string[]
  context(config: ClusterConfig): TaskContext
  aptCalls(): string[]
}

const roots: string[] = []
afterEach(() => { for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true }) })

function standInHost(options: { has: string[]; repo?: Record<string, string[]>; repoAfterUpdate?: Record<string, string[]>; apt?: boolean }): Host {
  const root = mkdtempSync(join(tmpdir(), 'kk-precheck-'))
  roots.push(root)
  for (const dir of ['bin', 'repo', 'repo-after-update']) mkdirSync(join(root, dir))
  for (const command of options.has) writeFileSync(join(root, 'bin', command), '#!/bin/sh\n', { mode: 0o755 })
  if (options.apt ?? true) writeFileSync(join(root, 'bin/apt-get'), APT_GET_DOUBLE, { mode: 0o755 })
  for (const [dir, packages] of [['repo', options.repo], ['repo-after-update', options.repoAfterUpdate]] as const) {
    for (const [name, commands] of Object.entries(packages ?? {})) writeFileSync(join(root, dir, name), commands.join(' '))
  }
  chmodSync(join(root, 'bin'), 0o755)
  const warnings: string[] = []
  const logs: string[] = []
  return {
    root, warnings, logs,
    aptCalls: () => (existsSync(join(root, 'apt.log')) ? readFileSync(join(root, 'apt.log'), 'utf8').trim().split('\n') : []),
    context: (config) => ({
      host: config.hosts[0], config, plan: {} as TaskContext['plan'], module: 'precheck', shared: new Map(),
      async exec(command, execOptions = {}) {
        const result = spawnSync('/bin/sh', ['-c', command.text], { env: { PATH: join(root, 'bin') }, encoding: 'utf8' })
        const answer = { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr }
        if (answer.code !== 0 && !execOptions.allowFailure) throw new Error(`exit ${answer.code}: ${command.text}`)
        return answer
      },
      upload: () => { throw new Error('precheck uploads nothing') },
      download: () => { throw new Error('precheck downloads nothing') },
      artifact: () => { throw new Error('precheck needs no artifact') },
      changed: () => undefined,
      log: (line) => logs.push(line),
      secret: () => undefined,
      warn: (message) => warnings.push(message),
    }),
  }
}

const BASE = ['ip', 'iptables', 'mount', 'nsenter']

function requiredCommandsTask() {
  const task = precheck.tasks!({ pipeline: 'create' } as PlanContext).find((t) => t.name === 'required commands')
  if (!task) throw new Error('precheck has no "required commands" task')
  return task
}

function config(version: string, proxyMode: 'ipvs' | 'iptables'): ClusterConfig {
  const made = makeConfig({ version })
  return { ...made, kubernetes: { ...made.kubernetes, proxyMode } }
}

describe('precheck: required commands (kubeadm preflight per version)', () => {
  it('follows kubeadm: conntrack only below v1.32, socat a warning, ipset and ipvsadm only for ipvs', () => {
    const levels = (c: ClusterConfig) => Object.fromEntries(requiredTools(c).map((tool) => [tool.command, tool.level]))
    expect(levels(config('v1.31.14', 'iptables'))).toEqual({ conntrack: 'error', ip: 'error', iptables: 'error', mount: 'error', nsenter: 'error', socat: 'warning' })
    expect(levels(config('v1.32.0', 'iptables'))).toEqual({ ip: 'error', iptables: 'error', mount: 'error', nsenter: 'error', socat: 'warning' })
    expect(levels(config('v1.33.4', 'ipvs'))).toMatchObject({ ipset: 'error', ipvsadm: 'error' })
  })

  it('a runner without conntrack and socat: installs both with apt-get (refreshing stale lists once), saying so', async () => {
    const host = standInHost({ has: BASE, repoAfterUpdate: { conntrack: ['conntrack'], socat: ['socat'] } })
    await requiredCommandsTask().run(host.context(config('v1.30.14', 'iptables')))
    expect(host.aptCalls()).toEqual([
      'apt-get install -y -q --no-install-recommends conntrack socat', 'apt-get update -q',
      'apt-get install -y -q --no-install-recommends conntrack socat',
    ])
    expect(host.warnings).toEqual(['node1 lacks conntrack, socat: installing conntrack socat with apt-get'])
    expect(existsSync(join(host.root, 'bin/conntrack'))).toBe(true)
  })

  it('v1.32 and later do not need conntrack: nothing is installed for it', async () => {
    const host = standInHost({ has: [...BASE, 'socat'] })
    await requiredCommandsTask().run(host.context(config('v1.33.4', 'iptables')))
    expect(host.aptCalls()).toEqual([])
    expect(host.warnings).toEqual([])
  })

  it('ipvs without ipset and ipvsadm, which the package manager cannot install: fails naming them and the install command', async () => {
    const host = standInHost({ has: [...BASE, 'socat'] })
    const error = await requiredCommandsTask().run(host.context(config('v1.33.4', 'ipvs'))).catch((e: Error) => e)
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toBe('host node1: missing command(s): ipset (kubernetes.proxyMode is ipvs), ipvsadm (kubernetes.proxyMode is ipvs); ' +
      'apt-get install -y ipset ipvsadm failed: E: Unable to locate package ipset. ' +
      'Install them (apt-get install -y ipset ipvsadm), or list the packages in spec.system.debs / spec.system.rpms')
  })

  it('socat alone missing and not installable: a warning, not a failure (kubeadm only warns)', async () => {
    const host = standInHost({ has: BASE })
    await requiredCommandsTask().run(host.context(config('v1.33.4', 'iptables')))
    expect(host.warnings[1]).toBe('node1 lacks socat (kubeadm v1.33.4 preflight warns without it) (apt-get install -y socat failed: E: Unable to locate package socat); install it with: apt-get install -y socat')
  })

  it('no package manager: fails naming the Debian and RHEL packages', async () => {
    const host = standInHost({ has: ['ip', 'iptables', 'mount', 'nsenter', 'socat'], apt: false })
    const error = await requiredCommandsTask().run(host.context(config('v1.30.14', 'iptables'))).catch((e: Error) => e)
    expect((error as Error).message).toMatch(/^host node1: missing command\(s\): conntrack \(kubeadm v1\.30\.14 preflight fails without it\); no apt-get, dnf or yum on this host\. Install them \(apt-get install -y conntrack \/ dnf install -y conntrack-tools\)/)
  })
})

describe('precheck: proxyMode ipvs needs the ip_vs kernel modules', () => {
  const ipvsTask = () => precheck.tasks!({ pipeline: 'create' } as PlanContext).find((t) => t.name === 'ipvs kernel modules')!
  // The stand-in's modprobe (a double) finds no module; /sys/module is this machine's, which has no ip_vs loaded.
  it.skipIf(existsSync('/sys/module/ip_vs'))('fails instead of letting kube-proxy fall back to iptables (or crash)', async () => {
    const host = standInHost({ has: BASE })
    symlinkSync('/bin/sh', join(host.root, 'bin/sh'))
    writeFileSync(join(host.root, 'bin/modprobe'), '#!/bin/sh\n# Test double for modprobe: no module is available.\nexit 1\n', { mode: 0o755 })
    const error = await ipvsTask().run(host.context(config('v1.30.14', 'ipvs'))).catch((e: Error) => e)
    expect((error as Error).message).toBe('cluster.yaml: host node1: spec.kubernetes.proxyMode: kubernetes.proxyMode is ipvs, but the kernel cannot load ip_vs, ip_vs_rr, ip_vs_wrr, ip_vs_sh: ' +
      'kube-proxy would fall back to iptables (before v1.26) or fail to start. Set kubernetes.proxyMode: iptables, or install the kernel modules (linux-modules-extra on Ubuntu)')
    await ipvsTask().run(host.context(config('v1.30.14', 'iptables')))
  })
})
