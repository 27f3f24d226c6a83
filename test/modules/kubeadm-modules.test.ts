/**
 * The decisions of kubeadm-init and the join modules, against scripted hosts: when init runs, when it is
 * refused, reset before a retry, fresh credentials only when someone must join.
 */
import { kubeadmImages } from '../../src/modules/runtime-images.js'
import { mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { parse } from 'yaml'
import type { Host } from '../../src/config/types.js'
import { kubeadmInit } from '../../src/modules/kubeadm-init.js'
import { JOIN_CREDENTIALS_KEY } from '../../src/modules/kubeadm-join.js'
import { joinControlPlane } from '../../src/modules/join-control-plane.js'
import { joinWorkers } from '../../src/modules/join-workers.js'
import { kubeconfig } from '../../src/modules/kubeconfig.js'
import { SHARED_KUBECONFIG_DESTINATION, SHARED_KUBECONFIG_PATH } from '../../src/pipeline/types.js'
import { FinalError } from '../../src/pipeline/errors.js'
import type { ModuleDefinition } from '../../src/modules/module.js'
import type { PlanContext } from '../../src/plan/types.js'
import type { TaskContext } from '../../src/pipeline/types.js'
import { makeConfig } from '../plan/make-config.js'

type Reply = { code: number; stdout?: string; stderr?: string }
/** Answers a command by the first pattern its text matches; unmatched commands succeed silently. */
type Script = Array<[RegExp, Reply | (() => Reply)]>

const CA_HASH = `sha256:${'c0'.repeat(32)}`
const KEY = 'd1'.repeat(32)
const INIT_OUTPUT = `Your Kubernetes control-plane has initialized successfully!
  kubeadm join lb.kubesphere.local:6443 --token abcdef.0123456789abcdef \\
	--discovery-token-ca-cert-hash ${CA_HASH} \\
	--control-plane --certificate-key ${KEY}
`

class ScriptedHosts {
  readonly commands: Array<{ host: string; text: string }> = []
  readonly secrets: string[] = []
  readonly warnings: string[] = []
  readonly shared = new Map<string, unknown>()
  /** What download() finds on the hosts, by path. */
  readonly files: Record<string, string> = {}
  changes = 0
  constructor(private readonly script: Record<string, Script>) {}

  context(host: Host, ctx: PlanContext): TaskContext {
    const reply = (text: string): Reply => {
      const found = (this.script[host.name] ?? []).find(([pattern]) => pattern.test(text))
      const answer = found ? found[1] : { code: 0 }
      return typeof answer === 'function' ? answer() : answer
    }
    return {
      host, config: ctx.config, module: 'kubeadm-init', shared: this.shared,
      exec: async (command: { text: string }, options?: { allowFailure?: boolean }) => {
        this.commands.push({ host: host.name, text: command.text })
        const result = { stdout: '', stderr: '', ...reply(command.text) }
        if (result.code !== 0 && !options?.allowFailure) throw new Error(`${command.text} failed: ${result.stderr}`)
        return result
      },
      upload: async (_local: string, remote: string) => {
        this.commands.push({ host: host.name, text: `upload ${remote}` })
        return { changed: reply(`upload ${remote}`).code === 0, bytes: 1 }
      },
      download: async (remote: string, local: string) => {
        this.commands.push({ host: host.name, text: `download ${remote}` })
        writeFileSync(local, this.files[remote] ?? '')
        return { changed: true, bytes: 1 }
      },
      secret: (value: string) => { this.secrets.push(value) },
      warn: (message: string) => { this.warnings.push(message) },
      log: () => {},
      changed: () => { this.changes++ },
    } as unknown as TaskContext
  }

  ran(host: string, pattern: RegExp): string[] {
    return this.commands.filter((c) => c.host === host && pattern.test(c.text)).map((c) => c.text)
  }
}

/** Runs a module's tasks in order, as the runner does (task.hosts, retries; serial does not matter here). */
async function runModule(module: ModuleDefinition, ctx: PlanContext, hosts: ScriptedHosts): Promise<void> {
  const moduleHosts = module.hosts(ctx)
  for (const task of module.tasks!(ctx)) {
    for (const host of task.hosts ? task.hosts(moduleHosts) : moduleHosts) {
      for (let attempt = 0; ; attempt++) {
        try {
          await task.run(hosts.context(host, ctx))
          break
        } catch (error) {
          if (attempt >= (task.retries ?? 0) || error instanceof FinalError) throw error
        }
      }
    }
  }
}

function planContext(controlPlanes: number, workers: number): PlanContext {
  const config = makeConfig({ etcd: 'kubeadm', controlPlanes, workers })
  const hostsWithRole = (...roles: string[]) => config.hosts.filter((h) => roles.some((r) => h.roles.includes(r as never)))
  return { config, pipeline: 'create', versions: {} as never, versionFields: {} as never, hostsWithRole, firstControlPlane: config.hosts[0], images: kubeadmImages(config, '3.5.13') }
}

afterEach(() => { vi.useRealTimers() })

describe('kubeadm-init', () => {
  it('a fresh node: a failed init is reset before the retry; the credentials of the successful one are shared and secret', async () => {
    let inits = 0
    const hosts = new ScriptedHosts({ node1: [
      [/^test -f \/etc\/kubernetes\/admin.conf/, { code: 1 }],
      [/kubeadm init --config/, () => (++inits === 1 ? { code: 1, stderr: 'error execution phase wait-control-plane: timed out' } : { code: 0, stdout: INIT_OUTPUT })],
    ] })
    await runModule(kubeadmInit, planContext(1, 0), hosts)
    expect(hosts.ran('node1', /kubeadm (init|reset)/)).toEqual([
      '/usr/local/bin/kubeadm init --config /etc/kubernetes/kubeadm-config.yaml --upload-certs',
      '/usr/local/bin/kubeadm reset -f',
      '/usr/local/bin/kubeadm init --config /etc/kubernetes/kubeadm-config.yaml --upload-certs',
    ])
    expect(hosts.shared.get(JOIN_CREDENTIALS_KEY)).toEqual({
      apiServerEndpoint: 'lb.kubesphere.local:6443', token: 'abcdef.0123456789abcdef', caCertHash: CA_HASH, certificateKey: KEY,
    })
    expect(hosts.secrets).toEqual(['abcdef.0123456789abcdef', KEY])
  })

  it('a healthy cluster: no init; a changed kubeadm config is written but said not to be applied', async () => {
    const hosts = new ScriptedHosts({ node1: [] })
    await runModule(kubeadmInit, planContext(1, 0), hosts)
    expect(hosts.ran('node1', /kubeadm /)).toEqual([])
    expect(hosts.ran('node1', /get --raw \/healthz/)).toHaveLength(1)
    expect(hosts.warnings.join('\n')).toMatch(/kubeadm-config\.yaml changed on node1, but the cluster exists/)
    expect(hosts.shared.has(JOIN_CREDENTIALS_KEY)).toBe(false)
  })

  it('admin.conf exists but the API server stays silent: refused after a wait, never reset or re-initialised', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'Date'] })
    const hosts = new ScriptedHosts({ node1: [[/get --raw \/healthz/, { code: 1, stderr: 'connection refused' }]] })
    const outcome = runModule(kubeadmInit, planContext(1, 0), hosts).catch((error: Error) => error)
    await vi.advanceTimersByTimeAsync(70_000)
    const error = await outcome
    expect(String(error)).toMatch(/admin\.conf exists on node1 but the API server has not answered for 60s/)
    expect((error as { hint?: string }).hint).toMatch(/kk-action delete/)
    expect(hosts.ran('node1', /kubeadm /)).toEqual([])
    expect(hosts.ran('node1', /get --raw \/healthz/).length).toBeGreaterThan(5)
  })
})

describe('join modules', () => {
  it('a rerun: only hosts without kubelet.conf join, with a fresh token and certificate key made on the first control plane', async () => {
    const ctx = planContext(3, 0)
    const hosts = new ScriptedHosts({
      node2: [],
      node3: [[/^test -f \/etc\/kubernetes\/kubelet.conf/, { code: 1 }]],
      node1: [
        [/token create --print-join-command/, { code: 0, stdout: `kubeadm join lb.kubesphere.local:6443 --token zyxwvu.9876543210fedcba --discovery-token-ca-cert-hash ${CA_HASH} \n` }],
        [/init phase upload-certs/, { code: 0, stdout: `[upload-certs] Using certificate key:\n${KEY}\n` }],
      ],
    })
    await runModule(joinControlPlane, ctx, hosts)
    expect(hosts.ran('node1', /kubeadm/)).toEqual([
      '/usr/local/bin/kubeadm token create --print-join-command',
      '/usr/local/bin/kubeadm init phase upload-certs --upload-certs --config /etc/kubernetes/kubeadm-config.yaml',
    ])
    expect(hosts.ran('node2', /kubeadm|upload/)).toEqual([])
    expect(hosts.ran('node3', /kubeadm|upload/)).toEqual([
      'upload /etc/kubernetes/kubeadm-join.yaml', '/usr/local/bin/kubeadm join --config /etc/kubernetes/kubeadm-join.yaml',
      'rm -f /etc/kubernetes/kubeadm-join.yaml',
    ])
    expect(hosts.secrets).toEqual(['zyxwvu.9876543210fedcba', 'zyxwvu.9876543210fedcba', KEY])
  })

  it('everyone joined: no token is made at all', async () => {
    const hosts = new ScriptedHosts({})
    await runModule(joinWorkers, planContext(1, 2), hosts)
    expect(hosts.commands.filter((c) => /kubeadm/.test(c.text))).toEqual([])
  })

  it('workers use init\'s credentials without a certificate key; a failed join is reset and retried', async () => {
    let joins = 0
    const ctx = planContext(1, 1)
    const hosts = new ScriptedHosts({ node2: [
      [/^test -f \/etc\/kubernetes\/kubelet.conf/, { code: 1 }],
      [/kubeadm join/, () => (++joins === 1 ? { code: 1, stderr: 'error execution phase kubelet-start: timed out waiting for the condition' } : { code: 0 })],
    ] })
    hosts.shared.set(JOIN_CREDENTIALS_KEY, { apiServerEndpoint: 'lb.kubesphere.local:6443', token: 'abcdef.0123456789abcdef', caCertHash: CA_HASH })
    await runModule(joinWorkers, ctx, hosts)
    expect(hosts.ran('node1', /kubeadm/)).toEqual([])
    expect(hosts.ran('node2', /bin\/kubeadm|rm -f/)).toEqual([
      '/usr/local/bin/kubeadm join --config /etc/kubernetes/kubeadm-join.yaml', 'rm -f /etc/kubernetes/kubeadm-join.yaml', '/usr/local/bin/kubeadm reset -f',
      '/usr/local/bin/kubeadm join --config /etc/kubernetes/kubeadm-join.yaml', 'rm -f /etc/kubernetes/kubeadm-join.yaml',
    ])
  })
})

// kubeadm v1.20.2's output for a worker whose manifests directory is not empty.
const PREFLIGHT_REFUSAL = `[preflight] Running pre-flight checks
error execution phase preflight: [preflight] Some fatal errors occurred:
\t[ERROR DirAvailable--etc-kubernetes-manifests]: /etc/kubernetes/manifests is not empty
[preflight] If you know what you are doing, you can make a check non-fatal with \`--ignore-preflight-errors=...\`
To see the stack trace of this error execute with --v=5 or higher`
const DISCOVERY_FAILURE = `[preflight] Running pre-flight checks
error execution phase preflight: couldn't validate the identity of the API Server: Get "https://lb.kubesphere.local:6443/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s": dial tcp 10.200.0.12:6443: connect: connection refused
To see the stack trace of this error execute with --v=5 or higher`

describe('kubeadm failures', () => {
  const workerJoining = (stderr: string) => {
    const hosts = new ScriptedHosts({ node2: [
      [/^test -f \/etc\/kubernetes\/kubelet.conf/, { code: 1 }],
      [/kubeadm join/, { code: 1, stderr }],
    ] })
    hosts.shared.set(JOIN_CREDENTIALS_KEY, { apiServerEndpoint: 'lb.kubesphere.local:6443', token: 'abcdef.0123456789abcdef', caCertHash: CA_HASH })
    return hosts
  }

  it('a preflight refusal: kubeadm\'s [ERROR] line is quoted, the join is neither reset nor retried', async () => {
    const hosts = workerJoining(PREFLIGHT_REFUSAL)
    const error = await runModule(joinWorkers, planContext(1, 1), hosts).catch((e: Error) => e)
    expect(error).toBeInstanceOf(FinalError)
    expect(String(error)).toContain('kubeadm join failed on node2: [ERROR DirAvailable--etc-kubernetes-manifests]: /etc/kubernetes/manifests is not empty')
    expect(String(error)).not.toMatch(/If you know what you are doing/)
    expect(hosts.ran('node2', /bin\/kubeadm/)).toEqual(['/usr/local/bin/kubeadm join --config /etc/kubernetes/kubeadm-join.yaml'])
  })

  it('a failed discovery is reported at once, naming the endpoint, without a retry', async () => {
    const hosts = workerJoining(DISCOVERY_FAILURE)
    const error = await runModule(joinWorkers, planContext(1, 1), hosts).catch((e: Error) => e)
    expect(error).toBeInstanceOf(FinalError)
    expect(String(error)).toContain('couldn\'t validate the identity of the API Server')
    expect(String(error)).toMatch(/No apiserver answered at lb\.kubesphere\.local:6443 from node2/)
    expect(hosts.ran('node2', /bin\/kubeadm join/)).toHaveLength(1)
  })

  it('no apiserver answers at the endpoint from the joining host: after a minute, reported (final) without running kubeadm join', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'Date'] })
    const hosts = new ScriptedHosts({ node2: [
      [/^test -f \/etc\/kubernetes\/kubelet.conf/, { code: 1 }],
      [/dev\/tcp/, { code: 1, stdout: '10.0.0.2\n' }],
    ] })
    hosts.shared.set(JOIN_CREDENTIALS_KEY, { apiServerEndpoint: 'lb.kubesphere.local:6443', token: 'abcdef.0123456789abcdef', caCertHash: CA_HASH })
    const outcome = runModule(joinWorkers, planContext(1, 1), hosts).catch((e: Error) => e)
    await vi.advanceTimersByTimeAsync(70_000)
    const error = await outcome
    expect(error).toBeInstanceOf(FinalError)
    expect(String(error)).toMatch(/no apiserver answers at lb\.kubesphere\.local:6443 from node2 \(it resolves to 10\.0\.0\.2; waited 6\ds\)/)
    expect(hosts.ran('node2', /bin\/kubeadm/)).toEqual([])
    expect(hosts.ran('node2', /dev\/tcp/).length).toBeGreaterThan(10)
  })

  it('a failed init is reset, and what the reset deleted (pull credentials, kube-vip\'s manifest) is written again before the retry', async () => {
    let inits = 0
    const ctx = planContext(1, 0)
    ctx.config.controlPlaneEndpoint = { ...ctx.config.controlPlaneEndpoint, internalLoadbalancer: 'kube-vip', address: '10.0.0.100' }
    ctx.config.registry = { ...ctx.config.registry, auths: { 'reg.example:5000': { username: 'u', password: 'p' } } } as never
    const hosts = new ScriptedHosts({ node1: [
      [/^test -f \/etc\/kubernetes\/admin.conf/, { code: 1 }],
      [/^ip -o addr show/, { code: 0, stdout: '2: eth0    inet 10.0.0.1/24 brd 10.0.0.255 scope global eth0\n' }],
      [/kubeadm init --config/, () => (++inits === 1 ? { code: 1, stderr: 'error execution phase wait-control-plane: couldn\'t initialize a Kubernetes cluster' } : { code: 0, stdout: INIT_OUTPUT })],
    ] })
    await runModule(kubeadmInit, ctx, hosts)
    const sequence = hosts.ran('node1', /kubeadm (init|reset)|upload \/(etc|var)/)
    const reset = sequence.indexOf('/usr/local/bin/kubeadm reset -f')
    expect(reset).toBeGreaterThan(0)
    expect(sequence.slice(reset + 1)).toEqual(expect.arrayContaining(['upload /var/lib/kubelet/config.json', 'upload /etc/kubernetes/manifests/kube-vip.yaml']))
    expect(sequence.at(-1)).toBe('/usr/local/bin/kubeadm init --config /etc/kubernetes/kubeadm-config.yaml --upload-certs')
  })
})

describe('kubeconfig', () => {
  const key = Buffer.from('-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKk\n-----END EC PRIVATE KEY-----\n').toString('base64')
  const admin = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EK
    server: https://lb.kubesphere.local:6443
  name: kubernetes
kind: Config
users:
- name: kubernetes-admin
  user:
    client-certificate-data: Q0VSVAo=
    client-key-data: ${key}
`

  it('written where asked, 0600, server rewritten, key data secret; the same again is no change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kk-kubeconfig-'))
    const path = join(dir, 'out', 'kubeconfig')
    const hosts = new ScriptedHosts({})
    hosts.files['/etc/kubernetes/admin.conf'] = admin
    hosts.shared.set(SHARED_KUBECONFIG_DESTINATION, path)
    await runModule(kubeconfig, planContext(1, 0), hosts)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(parse(readFileSync(path, 'utf8')).clusters[0].cluster.server).toBe('https://10.0.0.1:6443')
    expect(hosts.shared.get(SHARED_KUBECONFIG_PATH)).toBe(path)
    expect(hosts.secrets).toContain(key)
    expect(hosts.changes).toBe(1)
    await runModule(kubeconfig, planContext(1, 0), hosts)
    expect(hosts.changes).toBe(1)
  })

  it('a symlink planted at the destination is replaced, not written through', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kk-kubeconfig-'))
    const elsewhere = join(dir, 'elsewhere')
    writeFileSync(elsewhere, 'untouched')
    symlinkSync(elsewhere, join(dir, 'kubeconfig'))
    const hosts = new ScriptedHosts({})
    hosts.files['/etc/kubernetes/admin.conf'] = admin
    hosts.shared.set(SHARED_KUBECONFIG_DESTINATION, join(dir, 'kubeconfig'))
    await runModule(kubeconfig, planContext(1, 0), hosts)
    expect(readFileSync(elsewhere, 'utf8')).toBe('untouched')
    expect(readFileSync(join(dir, 'kubeconfig'), 'utf8')).toContain('https://10.0.0.1:6443')
  })
})
