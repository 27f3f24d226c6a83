/**
 * The CLI as users run it (the bundle in dist/), deploying a whole cluster onto four real SSH test nodes:
 * three control planes (stacked etcd) and a dedicated worker, flannel, no addons.
 * kubeadm, kubelet, kubectl and helm are the test doubles (test/fixtures/doubles): they record their argv and
 * input files, so this proves what kk-action asks of them, not that a real cluster comes up.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, parseAllDocuments } from 'yaml'
import { buildMirror, serveMirror, type MirrorBuild, type MirrorServer } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { runCli, type ProcessResult } from '../support/bundle.js'
import { writeClusterFile } from './cluster.js'
import { preparePlan } from '../../src/core.js'
import { silentLogger } from '../../src/log.js'
import { loggedEvents, renderDrift, unlistedUploads } from '../modules/rendered-on-node.js'
import { CREDENTIAL_PLACEHOLDERS } from '../../src/modules/kubeadm-join.js'
import { renderFiles } from '../../src/render.js'

const skip = await testNodesSkipReason()

interface LoggedCall { args: string[] }

/** The double's log: `<time> <pid> 'arg' ...` per call (comment lines start with #). */
function parseCalls(log: string): LoggedCall[] {
  return log.split('\n').filter((line) => line && !line.startsWith('#')).map((line) => {
    const args = [...line.replace(/^\d+ \d+ /, '').matchAll(/'((?:[^']|'\\'')*)'/g)].map((m) => m[1].replace(/'\\''/g, "'"))
    return { args }
  })
}

describe.skipIf(skip)('kk-action deploy: a cluster on 4 test nodes (3 control planes, 1 worker; kubeadm doubles)', () => {
  let nodes: TestNodes
  let mirror: MirrorBuild
  let server: MirrorServer
  let dir: string
  let file: string
  let runnerTemp: string
  let first: ProcessResult & { logs: string }

  const deploy = async (...extra: string[]): Promise<ProcessResult & { logs: string }> => {
    const logs = join(dir, `logs-${Date.now()}`)
    const result = await runCli([
      'deploy', '-f', file, '--known-hosts', nodes.knownHostsPath, '--mirror', server.url,
      '--checksums', mirror.checksumsFile, '--artifacts-dir', join(dir, 'artifacts'), '--logs', logs, ...extra,
    ], { timeoutMs: 900_000, env: { RUNNER_TEMP: runnerTemp } })
    return { ...result, logs }
  }
  const onNode = async (name: string, command: string) => nodes.exec(name, ['sh', '-c', command])
  const calls = async (name: string, program: string) =>
    parseCalls((await onNode(name, `cat /var/log/kk-doubles/${program}.log 2>/dev/null; true`)).stdout)
  const kubeadmCalls = async (name: string, subcommand: string) =>
    (await calls(name, 'kubeadm')).filter((call) => call.args[0] === subcommand)
  /** The copies the kubeadm double kept of the --config files it was given, in order. */
  const savedConfigs = async (name: string) => {
    const listing = await onNode(name, 'ls /var/log/kk-doubles/files 2>/dev/null | sort -n; true')
    const files = listing.stdout.split('\n').filter((f) => /-kubeadm-/.test(f))
    return Promise.all(files.map(async (f) => (await onNode(name, `cat /var/log/kk-doubles/files/${f}`)).stdout))
  }
  const names = () => nodes.nodes.map((n) => n.name)

  beforeAll(async () => {
    ;[nodes, mirror] = await Promise.all([startTestNodes({ count: 4, prefix: 'kkcl' }), buildMirror()])
    server = await serveMirror(mirror.root)
    dir = mkdtempSync(join(tmpdir(), 'kk-e2e-cluster-'))
    runnerTemp = mkdtempSync(join(tmpdir(), 'kk-e2e-runner-temp-'))
    file = writeClusterFile(dir, nodes, mirror, { controlPlanes: 3, etcdType: 'kubeadm', network: '    plugin: flannel\n    flannel: {backendMode: host-gw}' })
    // The smoke test needs node state the doubles cannot share between machines: that pass comes later.
    first = await deploy('--skip', 'smoke-test')
  }, 1_200_000)
  afterAll(async () => {
    await server?.close()
    await nodes?.stop()
  })

  it('succeeds', () => {
    expect(first.status, first.stderr.slice(-6000)).toBe(0)
    expect(first.stderr).toMatch(/<== join-workers: ok/)
    expect(first.stderr).toMatch(/<== join-control-plane: ok/)
  })

  const renderPlan = () => preparePlan({
    configFile: file, checksumsFile: mirror.checksumsFile, mirror: server.url, skipModules: ['smoke-test'], preview: true, logger: silentLogger,
  })

  it('render shows what the deploy wrote: each file without a placeholder, byte for byte and mode, on every node', async () => {
    const { plan, loaded } = await renderPlan()
    // config.toml: restrict_oom_score_adj is the node's probe (true on test nodes), render shows an ordinary machine's.
    const drift = await renderDrift({ plan, config: loaded.config, nodes }, { except: ['/etc/containerd/config.toml'] })
    expect(drift.problems).toEqual([])
    // Per node: modules-load, sysctls, hostname, the kubelet unit and drop-in, containerd's unit, crictl.yaml;
    // on the first control plane also kubeadm-config.yaml and flannel's values.
    expect(drift.compared).toBe(4 * 7 + 2)
  })

  it('render lists every file the deploy uploaded but artifacts', async () => {
    const { plan, loaded } = await renderPlan()
    expect(unlistedUploads({ plan, config: loaded.config }, loggedEvents(first.logs))).toEqual([])
  })

  it('runs kubeadm init exactly once, on the first control plane, with the generated config', async () => {
    const [cp1, cp2, cp3, worker] = names()
    const inits = await kubeadmCalls(cp1, 'init')
    expect(inits.map((c) => c.args)).toEqual([['init', '--config', '/etc/kubernetes/kubeadm-config.yaml', '--upload-certs']])
    for (const other of [cp2, cp3, worker]) expect(await kubeadmCalls(other, 'init')).toEqual([])
    const config = parseAllDocuments((await savedConfigs(cp1))[0]).map((d) => d.toJS())
    expect(config.map((d) => `${d.apiVersion} ${d.kind}`)).toEqual([
      'kubeadm.k8s.io/v1beta3 InitConfiguration', 'kubeadm.k8s.io/v1beta3 ClusterConfiguration',
      'kubelet.config.k8s.io/v1beta1 KubeletConfiguration', 'kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration',
    ])
    expect(config[0].nodeRegistration).toMatchObject({ name: cp1, criSocket: 'unix:///run/containerd/containerd.sock' })
    expect(config[1].etcd).toEqual({ local: { dataDir: '/var/lib/etcd' } })
    const mode = await onNode(cp1, 'stat -c %a /etc/kubernetes/kubeadm-config.yaml')
    expect(mode.stdout.trim()).toBe('600')
  })

  it('joins the other control planes and the worker with the token, CA hash and certificate key init printed', async () => {
    const [cp1, cp2, cp3, worker] = names()
    const init = (await onNode(cp1, 'cat /var/lib/kk-doubles/token /var/lib/kk-doubles/certificate-key')).stdout.trim().split('\n')
    const [token, certificateKey] = init
    const caHash = (await onNode(cp1, "openssl x509 -in /etc/kubernetes/pki/ca.crt -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1")).stdout.trim()
    expect(await kubeadmCalls(cp1, 'join')).toEqual([])
    for (const [host, controlPlane] of [[cp2, true], [cp3, true], [worker, false]] as const) {
      const joins = await kubeadmCalls(host, 'join')
      expect(joins.map((c) => c.args), host).toEqual([['join', '--config', '/etc/kubernetes/kubeadm-join.yaml']])
      const [join] = (await savedConfigs(host)).map((text) => parse(text))
      expect(join.discovery.bootstrapToken, host).toEqual({ apiServerEndpoint: 'lb.kubesphere.local:6443', token, caCertHashes: [`sha256:${caHash}`] })
      expect(join.nodeRegistration, host).toMatchObject({ name: host, criSocket: 'unix:///run/containerd/containerd.sock' })
      if (controlPlane) expect(join.controlPlane, host).toEqual({ localAPIEndpoint: { advertiseAddress: nodes.node(host).address, bindPort: 6443 }, certificateKey })
      else expect(join.controlPlane, host).toBeUndefined()
      // The file held the token: it is gone once the host joined.
      expect((await onNode(host, 'test -e /etc/kubernetes/kubeadm-join.yaml; echo $?')).stdout.trim()).toBe('1')
    }
  })

  it('render shows the JoinConfiguration each host was given, the credentials kubeadm init made as placeholders', async () => {
    const { plan, loaded } = await renderPlan()
    const rendered = renderFiles(plan, loaded.config)
    for (const host of names().slice(1)) {
      const given = parse((await savedConfigs(host))[0])
      given.discovery.bootstrapToken.token = CREDENTIAL_PLACEHOLDERS.token
      given.discovery.bootstrapToken.caCertHashes = [CREDENTIAL_PLACEHOLDERS.caCertHash]
      if (given.controlPlane) given.controlPlane.certificateKey = CREDENTIAL_PLACEHOLDERS.certificateKey
      const shown = rendered.find((f) => f.host === host && f.path === '/etc/kubernetes/kubeadm-join.yaml')
      expect(shown && parse(shown.content), host).toEqual(given)
    }
  })

  it('never shows the join token or the certificate key, on the console or in the logs directory', async () => {
    const [token, certificateKey] = (await onNode(names()[0], 'cat /var/lib/kk-doubles/token /var/lib/kk-doubles/certificate-key')).stdout.trim().split('\n')
    const logs = execFileSync('sh', ['-c', `cat $(find ${first.logs} -type f)`], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
    expect(logs).toContain('Your Kubernetes control-plane has initialized successfully!')
    expect(logs).toContain('--discovery-token-ca-cert-hash sha256:')
    for (const secret of [token, certificateKey]) {
      expect(first.stderr).not.toContain(secret)
      expect(logs).not.toContain(secret)
    }
  })

  it('joins control planes one at a time', () => {
    const events = readFileSync(join(first.logs, 'events.ndjson'), 'utf8').trim().split('\n').map((line) => JSON.parse(line))
    const spans = new Map<string, { start: number; end: number }>()
    for (const event of events.filter((e) => e.module === 'join-control-plane' && e.task === 'join control plane')) {
      const span = spans.get(event.host) ?? { start: 0, end: 0 }
      if (event.type === 'task-start') span.start = Date.parse(event.time)
      if (event.type === 'task-end') span.end = Date.parse(event.time)
      spans.set(event.host, span)
    }
    const ordered = [...spans.values()].sort((a, b) => a.start - b.start)
    expect(ordered).toHaveLength(2)
    expect(ordered[1].start).toBeGreaterThanOrEqual(ordered[0].end)
  })

  it('writes the kubeconfig under RUNNER_TEMP, mode 0600, pointing at the first control plane\'s address', () => {
    const path = join(runnerTemp, 'kubeconfig')
    expect(first.stderr).toContain(`kubeconfig: ${path}`)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const kubeconfig = parse(readFileSync(path, 'utf8'))
    expect(kubeconfig.clusters[0].cluster.server).toBe(`https://${nodes.nodes[0].address}:6443`)
    expect(kubeconfig.users[0].user['client-key-data']).toMatch(/^LS0t/)
    // the key never reached the logs
    const logs = readFileSync(join(first.logs, 'events.ndjson'), 'utf8')
    expect(logs).not.toContain(kubeconfig.users[0].user['client-key-data'])
  })

  it('installs flannel\'s chart from the first control plane, after the joins, in its privileged namespace', async () => {
    const [cp1, ...others] = names()
    const helm = (await calls(cp1, 'helm')).filter((call) => call.args[0] === 'upgrade')
    expect(helm.map((call) => call.args)).toEqual([['upgrade', '--install', 'flannel', `/etc/kubekey/network/flannel.tgz`, '--namespace', 'kube-flannel',
      '--create-namespace', '--values', '/etc/kubekey/network/flannel-values.yaml', '--kubeconfig', '/etc/kubernetes/admin.conf']])
    const values = parse((await onNode(cp1, 'cat /var/log/kk-doubles/files/*-helm-flannel-values.yaml')).stdout)
    expect(values).toEqual({ podCidr: '10.233.64.0/18', flannel: { backend: 'host-gw' } })
    const kubectl = (await calls(cp1, 'kubectl')).map((call) => call.args.join(' '))
    expect(kubectl).toContain('--kubeconfig /etc/kubernetes/admin.conf --cache-dir /var/lib/kk-action/kubectl-cache label --overwrite namespace kube-flannel pod-security.kubernetes.io/enforce=privileged')
    expect(kubectl.some((line) => line.includes('rollout status daemonset/kube-flannel-ds --namespace kube-flannel'))).toBe(true)
    for (const other of others) expect((await calls(other, 'helm')).length, other).toBe(0)
    const order = first.stderr.split('\n').filter((line) => /^==> /.test(line)).map((line) => line.split(' ')[1])
    expect(order.indexOf('network')).toBeGreaterThan(order.indexOf('join-workers'))
  })

  describe('a second deploy, with the smoke test', () => {
    let second: ProcessResult & { logs: string }
    let kubeadmBefore: Map<string, number>

    beforeAll(async () => {
      // What an API server would know and the doubles cannot: every node's own registration, gathered on
      // the first control plane where kubectl runs.
      const registrations = await Promise.all(names().map(async (name) => (await onNode(name, 'cat /var/lib/kk-doubles/nodes')).stdout))
      const lines = [...new Set(registrations.join('\n').split('\n').filter(Boolean))]
      await onNode(names()[0], `printf '%s\\n' ${lines.map((l) => `'${l}'`).join(' ')} > /var/lib/kk-doubles/nodes`)
      kubeadmBefore = new Map(await Promise.all(names().map(async (name) => [name, (await calls(name, 'kubeadm')).length] as const)))
      second = await deploy()
    }, 900_000)

    it('succeeds: every node Ready, kube-system running', () => {
      expect(second.status, second.stderr.slice(-6000)).toBe(0)
      expect(second.stderr).toMatch(/4 node\(s\) Ready, kube-system pods running/)
    })

    it('makes no kubeadm call at all (no init, no join, no new token) and installs no chart again', async () => {
      for (const name of names()) expect((await calls(name, 'kubeadm')).length, name).toBe(kubeadmBefore.get(name))
      expect((await calls(names()[0], 'helm')).filter((call) => call.args[0] === 'upgrade')).toHaveLength(1)
      expect(second.stderr).toMatch(/the cluster exists, kubeadm init is not run/)
    })

    it('asked kubectl for nodes and kube-system pods as JSON on the first control plane', async () => {
      const kubectl = await calls(names()[0], 'kubectl')
      expect(kubectl.map((c) => c.args.join(' '))).toEqual(expect.arrayContaining([
        '--kubeconfig /etc/kubernetes/admin.conf --cache-dir /var/lib/kk-action/kubectl-cache --request-timeout=20s get nodes -o json',
        '--kubeconfig /etc/kubernetes/admin.conf --cache-dir /var/lib/kk-action/kubectl-cache --request-timeout=20s get pods -n kube-system -o json',
      ]))
    })
  })
})
