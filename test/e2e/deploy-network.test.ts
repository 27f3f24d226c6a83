/**
 * load-balancer, network and addons from the CLI bundle on three SSH test nodes (two control planes, one
 * dedicated worker): the haproxy static pod and its config on the worker, the control-plane domain
 * resolving to it, calico's chart (a test double served by the local mirror, its sum read from the
 * mirror's copy of the publisher's index.yaml) installed with the config's pod CIDR and VXLAN mode, and
 * addons turned into helm/kubectl calls on the first control plane (kubectl, helm and calicoctl are test
 * doubles that log their argv; no apiserver runs, so the kubeadm and runtime modules are skipped).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { buildMirror, serveMirror, type MirrorBuild, type MirrorServer } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { runCli, type ProcessResult } from '../support/bundle.js'
import { writeClusterFile } from './cluster.js'
import { preparePlan } from '../../src/core.js'
import { silentLogger } from '../../src/log.js'
import { loggedEvents, renderDrift, unlistedUploads } from '../modules/rendered-on-node.js'

const skip = await testNodesSkipReason()
const SKIPPED = ['containerd', 'etcd', 'kubeadm-init', 'join-control-plane', 'join-workers', 'kubeconfig', 'smoke-test']

describe.skipIf(skip)('kk-action deploy: haproxy load balancer and addons on 3 test nodes', () => {
  let nodes: TestNodes
  let mirror: MirrorBuild
  let server: MirrorServer
  let dir: string
  let file: string
  let result: ProcessResult
  const onNode = async (name: string, command: string) => nodes.exec(name, ['sh', '-c', command])

  beforeAll(async () => {
    ;[nodes, mirror] = await Promise.all([startTestNodes({ count: 3, prefix: 'kknet' }), buildMirror()])
    server = await serveMirror(mirror.root)
    dir = mkdtempSync(join(tmpdir(), 'kk-e2e-net-'))
    mkdirSync(join(dir, 'addons'))
    writeFileSync(join(dir, 'addons', 'values.yaml'), 'replicaCount: 2\n')
    writeFileSync(join(dir, 'addons', 'extra.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n')
    file = writeClusterFile(dir, nodes, mirror, {
      controlPlanes: 2,
      etcdType: 'kubeadm',
      network: `    plugin: calico
    kubePodsCIDR: 10.77.0.0/16
    kubeServiceCIDR: 10.96.0.0/16
    calico:
      ipipMode: Never
      vxlanMode: Always`,
      extraSpec: `  controlPlaneEndpoint:
    domain: lb.kubesphere.local
    port: 6443
    internalLoadbalancer: haproxy
  addons:
  - name: web
    namespace: web-ns
    sources:
      chart:
        name: nginx
        repo: https://charts.example.test/stable
        version: 1.2.3
        valuesFile: addons/values.yaml
        values: [service.type=NodePort]
  - name: cache
    namespace: db
    sources:
      chart:
        name: bitnami/redis
        repo: https://charts.example.test/bitnami
  - name: extra
    namespace: tools
    sources:
      yaml:
        path: [addons/extra.yaml]
`,
    })
    // kubectl and helm need a kubeconfig, as the real ones need an apiserver: kubeadm-init would have written it.
    await onNode(nodes.nodes[0].name, 'mkdir -p /etc/kubernetes && printf "apiVersion: v1\\nkind: Config\\n" > /etc/kubernetes/admin.conf')
    result = await deploy('logs')
  }, 900_000)
  const deploy = (logs: string, ...extra: string[]) => runCli([
    'deploy', '-f', file, '--known-hosts', nodes.knownHostsPath, '--mirror', server.url, '--checksums', mirror.checksumsFile,
    '--artifacts-dir', join(dir, 'artifacts'), '--logs', join(dir, logs), ...SKIPPED.flatMap((id) => ['--skip', id]), ...extra,
  ], { timeoutMs: 600_000 })
  const first = () => nodes.nodes[0].name
  afterAll(async () => {
    await server?.close()
    await nodes?.stop()
  })

  it('the deploy succeeds', () => {
    expect(result.status, result.stderr).toBe(0)
  })

  it('render shows what the deploy wrote: haproxy, calico\'s values, the addons\' files and the rest, byte for byte and mode', async () => {
    const { plan, loaded } = await preparePlan({
      configFile: file, checksumsFile: mirror.checksumsFile, mirror: server.url, skipModules: SKIPPED, preview: true, logger: silentLogger,
    })
    const drift = await renderDrift({ plan, config: loaded.config, nodes })
    expect(drift.problems).toEqual([])
    // Per node: modules-load, sysctls, hostname, the kubelet unit and drop-in; the worker's haproxy.cfg and static
    // pod; on the first control plane calico's values and the two addon files sent from the runner.
    expect(drift.compared).toBe(3 * 5 + 2 + 3)
  })

  it('render lists every file the deploy uploaded but artifacts', async () => {
    const { plan, loaded } = await preparePlan({
      configFile: file, checksumsFile: mirror.checksumsFile, mirror: server.url, skipModules: SKIPPED, preview: true, logger: silentLogger,
    })
    expect(unlistedUploads({ plan, config: loaded.config }, loggedEvents(join(dir, 'logs')))).toEqual([])
  })

  it('the worker\'s haproxy lists every apiserver, and its static pod exists', async () => {
    const worker = nodes.nodes[2].name
    const cfg = await onNode(worker, 'cat /etc/kubekey/haproxy/haproxy.cfg')
    for (const cp of nodes.nodes.slice(0, 2)) expect(cfg.stdout).toContain(`server ${cp.name} ${cp.address}:6443 check`)
    expect(cfg.stdout).toMatch(/bind 127\.0\.0\.1:6443/)
    const pod = await onNode(worker, 'cat /etc/kubernetes/manifests/haproxy.yaml')
    expect(pod.stdout).toMatch(/image: library\/haproxy:/)
  })

  it('control planes get no haproxy', async () => {
    const absent = await onNode(nodes.nodes[0].name, 'test -e /etc/kubernetes/manifests/haproxy.yaml; echo $?')
    expect(absent.stdout.trim()).toBe('1')
  })

  it('the control-plane domain resolves to the local haproxy on the worker', async () => {
    const resolved = await onNode(nodes.nodes[2].name, 'getent hosts lb.kubesphere.local')
    expect(resolved.stdout.trim().split(/\s+/)[0]).toBe('127.0.0.1')
  })

  it('the chart addon became helm upgrade --install with its repo, version, values file and values', async () => {
    const log = (await onNode(nodes.nodes[0].name, 'cat /var/log/kk-doubles/helm.log')).stdout
    const install = log.split('\n').find((line) => line.includes("'upgrade'") && line.includes("'web'"))
    expect(install).toBeDefined()
    for (const part of ["'--install' 'web' 'nginx'", "'--namespace' 'web-ns'", "'--repo' 'https://charts.example.test/stable'",
      "'--version' '1.2.3'", "'--set' 'service.type=NodePort'", "'--kubeconfig' '/etc/kubernetes/admin.conf'"]) expect(install).toContain(part)
    const values = await onNode(nodes.nodes[0].name, 'cat /var/log/kk-doubles/files/*-helm-*values.yaml')
    expect(values.stdout).toContain('replicaCount: 2')
  })

  it('the repo/chart addon: helm repo add of its repository, then the chart installed by that name', async () => {
    const log = (await onNode(nodes.nodes[0].name, 'cat /var/log/kk-doubles/helm.log')).stdout.split('\n')
    const add = log.findIndex((line) => line.includes("'repo' 'add' 'bitnami' 'https://charts.example.test/bitnami'"))
    const install = log.findIndex((line) => line.includes("'upgrade' '--install' 'cache' 'bitnami/redis'"))
    expect(add).toBeGreaterThanOrEqual(0)
    expect(install).toBeGreaterThan(add)
    expect(log[install]).not.toContain("'--repo'")
  })

  it('the yaml addon became kubectl apply of the sent file in its namespace', async () => {
    const log = (await onNode(nodes.nodes[0].name, 'cat /var/log/kk-doubles/kubectl.log')).stdout
    const apply = log.split('\n').find((line) => line.includes("'apply'"))
    expect(apply).toContain("'-f' '/etc/kubekey/addons/extra/0-extra.yaml' '--namespace' 'tools'")
    const applied = await onNode(nodes.nodes[0].name, 'cat /var/log/kk-doubles/files/*-kubectl-*extra.yaml')
    expect(applied.stdout).toContain('name: extra')
  })

  it('calico\'s chart sum came from the mirror\'s copy of the publisher\'s index', () => {
    expect(result.stderr + result.stdout).toContain(`calico ${mirror.componentVersions.calico} is not in kk-action's catalog; using the chart's digest in ${server.url}/calico/charts/index.yaml`)
  })

  it('calico became helm upgrade --install of the verified chart with the rendered values, and calicoctl is installed', async () => {
    const version = mirror.componentVersions.calico!
    const log = (await onNode(first(), 'cat /var/log/kk-doubles/helm.log')).stdout
    const install = log.split('\n').find((line) => line.includes("'upgrade'") && line.includes("'calico'"))
    expect(install).toContain(`'--install' 'calico' '/etc/kubekey/network/tigera-operator-v${version}.tgz' '--namespace' 'tigera-operator' '--create-namespace' '--values' '/etc/kubekey/network/calico-values.yaml'`)
    const chart = mirror.files.find((f) => f.name === 'calico' && f.version === version)!
    const onNodeSum = await onNode(first(), `sha256sum /etc/kubekey/network/tigera-operator-v${version}.tgz`)
    expect(onNodeSum.stdout.split(' ')[0]).toBe(chart.sha256)
    const values = parse((await onNode(first(), 'cat /var/log/kk-doubles/files/*-helm-calico-values.yaml')).stdout) as {
      installation: { calicoNetwork: { bgp: string; ipPools: Array<{ cidr: string; encapsulation: string }> } } }
    expect(values.installation.calicoNetwork.ipPools[0]).toMatchObject({ cidr: '10.77.0.0/16', encapsulation: 'VXLAN' })
    expect(values.installation.calicoNetwork.bgp).toBe('Disabled')
    expect((await onNode(first(), 'stat -c %a /etc/kubekey/network/calico-values.yaml')).stdout.trim()).toBe('600')
    expect((await onNode(first(), 'test -x /usr/local/bin/calicoctl; echo $?')).stdout.trim()).toBe('0')
  })

  it('the operator, then calico-node and calico-kube-controllers in calico-system, are awaited', async () => {
    const log = (await onNode(first(), 'cat /var/log/kk-doubles/kubectl.log')).stdout
    const rollouts = log.split('\n').filter((line) => line.includes("'rollout'"))
    expect(rollouts.map((line) => /'(deployment|daemonset)\/[^']+' '--namespace' '[^']+'/.exec(line)?.[0])).toEqual([
      "'deployment/tigera-operator' '--namespace' 'tigera-operator'",
      "'daemonset/calico-node' '--namespace' 'calico-system'",
      "'deployment/calico-kube-controllers' '--namespace' 'calico-system'",
    ])
  })

  it('the network module runs nowhere but the first control plane', async () => {
    for (const node of nodes.nodes.slice(1)) {
      const absent = await onNode(node.name, 'test -e /etc/kubekey/network; echo $?')
      expect(absent.stdout.trim()).toBe('1')
    }
  })

  it('a rerun changes nothing and installs no chart again', async () => {
    const installs = async () => (await onNode(first(), "grep -c \"'upgrade'.*'calico'\" /var/log/kk-doubles/helm.log")).stdout.trim()
    const before = await installs()
    const rerun = await deploy('logs-rerun', '--skip', 'addons')
    expect(rerun.status, rerun.stderr).toBe(0)
    expect(rerun.stderr + rerun.stdout).toMatch(/deploy finished: 0 change\(s\), 0 byte\(s\) uploaded/)
    expect(await installs()).toBe(before)
  }, 600_000)

  it('a release an interrupted run left pending is rolled back before the chart is installed again', async () => {
    await onNode(first(), 'echo pending-upgrade > /var/lib/kk-doubles/helm-status-calico')
    const helmLines = async () => (await onNode(first(), 'cat /var/log/kk-doubles/helm.log')).stdout.trim().split('\n')
    const before = (await helmLines()).length
    const recovered = await deploy('logs-recover', '--until', 'network')
    expect(recovered.status, recovered.stderr.slice(-3000)).toBe(0)
    expect(recovered.stderr).toContain('helm release calico is pending-upgrade (an earlier run was interrupted); rolling back it first')
    const calls = (await helmLines()).slice(before).filter((line) => /'(rollback|upgrade|uninstall)'/.test(line))
    expect(calls.map((line) => /'(rollback|upgrade|uninstall)'/.exec(line)![1])).toEqual(['rollback', 'upgrade'])
  }, 600_000)

  it('a rollout that does not finish fails the deploy naming the workload and showing its namespace\'s pods', async () => {
    await onNode(first(), 'mkdir -p /var/lib/kk-doubles/fail && printf "error: timed out waiting for the condition\n" > /var/lib/kk-doubles/fail/kubectl-rollout' +
      ' && printf "tigera-operator tigera-operator-7d9c6b5d4-x2x9k Pending\n" > /var/lib/kk-doubles/pods')
    try {
      const failed = await deploy('logs-fail', '--until', 'network')
      expect(failed.status).toBe(1)
      expect(failed.stderr).toContain('calico: deployment/tigera-operator in tigera-operator did not roll out within 600s: error: timed out waiting for the condition')
      expect(failed.stderr).toMatch(/tigera-operator-7d9c6b5d4-x2x9k\s+0\/1\s+Pending/)
      expect(failed.stderr).not.toMatch(/\n\s+at .*\.js:\d+/)
    } finally {
      await onNode(first(), 'rm -f /var/lib/kk-doubles/fail/kubectl-rollout /var/lib/kk-doubles/pods')
    }
  }, 600_000)

  it('cilium: its chart from helm.cilium.io\'s index (the mirror\'s copy), cluster-pool IPAM on the pod CIDR, its agent and operator awaited', async () => {
    mkdirSync(join(dir, 'cilium'))
    const cilium = writeClusterFile(join(dir, 'cilium'), nodes, mirror, { controlPlanes: 2, etcdType: 'kubeadm', network: '    plugin: cilium\n    kubePodsCIDR: 10.88.0.0/16' })
    const result = await runCli([
      'deploy', '-f', cilium, '--known-hosts', nodes.knownHostsPath, '--mirror', server.url, '--checksums', mirror.checksumsFile,
      '--artifacts-dir', join(dir, 'artifacts'), '--logs', join(dir, 'logs-cilium'), ...SKIPPED.flatMap((id) => ['--skip', id]), '--until', 'network',
    ], { timeoutMs: 600_000 })
    expect(result.status, result.stderr.slice(-3000)).toBe(0)
    const version = mirror.componentVersions.cilium!
    expect(result.stderr).toContain(`cilium ${version} is not in kk-action's catalog; using the chart's digest in ${server.url}/index.yaml`)
    const log = (await onNode(first(), 'cat /var/log/kk-doubles/helm.log')).stdout
    expect(log).toContain(`'upgrade' '--install' 'cilium' '/etc/kubekey/network/cilium-${version}.tgz' '--namespace' 'kube-system' '--create-namespace' '--values' '/etc/kubekey/network/cilium-values.yaml'`)
    const values = parse((await onNode(first(), 'cat /var/log/kk-doubles/files/*-helm-cilium-values.yaml')).stdout)
    expect(values).toEqual({ ipam: { mode: 'cluster-pool', operator: { clusterPoolIPv4PodCIDRList: ['10.88.0.0/16'], clusterPoolIPv4MaskSize: 24 } }, operator: { replicas: 2 } })
    const rollouts = (await onNode(first(), 'cat /var/log/kk-doubles/kubectl.log')).stdout.split('\n').filter((line) => line.includes("'rollout'"))
    expect(rollouts.slice(-2).map((line) => /'(daemonset|deployment)\/[^']+'/.exec(line)?.[0])).toEqual(["'daemonset/cilium'", "'deployment/cilium-operator'"])
  }, 600_000)

  it('calico without kube-proxy: the kubernetes-services-endpoint ConfigMap is applied before the chart, which runs the eBPF data plane', async () => {
    mkdirSync(join(dir, 'nokp'))
    const nokp = writeClusterFile(join(dir, 'nokp'), nodes, mirror, {
      controlPlanes: 2, etcdType: 'kubeadm', kubernetesExtra: '    disableKubeProxy: true', network: '    plugin: calico\n    kubePodsCIDR: 10.77.0.0/16',
    })
    const result = await runCli([
      'deploy', '-f', nokp, '--known-hosts', nodes.knownHostsPath, '--mirror', server.url, '--checksums', mirror.checksumsFile,
      '--artifacts-dir', join(dir, 'artifacts'), '--logs', join(dir, 'logs-nokp'), ...SKIPPED.flatMap((id) => ['--skip', id]), '--until', 'network',
    ], { timeoutMs: 600_000 })
    expect(result.status, result.stderr.slice(-3000)).toBe(0)
    // The doubles number every input file they copy in one sequence: the ConfigMap's copy is older than the values'.
    const listing = (await onNode(first(), 'ls /var/log/kk-doubles/files')).stdout.split('\n')
    const seq = (pattern: RegExp) => Math.max(...listing.filter((f) => pattern.test(f)).map((f) => Number(f.split('-')[0])))
    const configMap = seq(/-kubectl-calico-kubernetes-services-endpoint\.yaml$/)
    expect(configMap).toBeGreaterThanOrEqual(0)
    expect(seq(/-helm-calico-values\.yaml$/)).toBeGreaterThan(configMap)
    const applied = parse((await onNode(first(), `cat /var/log/kk-doubles/files/${configMap}-kubectl-calico-kubernetes-services-endpoint.yaml`)).stdout)
    expect(applied).toMatchObject({ kind: 'ConfigMap', metadata: { namespace: 'tigera-operator' }, data: { KUBERNETES_SERVICE_HOST: 'lb.kubesphere.local', KUBERNETES_SERVICE_PORT: '6443' } })
    const values = parse((await onNode(first(), `ls /var/log/kk-doubles/files/*-helm-calico-values.yaml | sort -n -t/ -k6 | tail -1 | xargs cat`)).stdout)
    expect(values.installation.calicoNetwork.linuxDataplane).toBe('BPF')
  }, 600_000)
})
