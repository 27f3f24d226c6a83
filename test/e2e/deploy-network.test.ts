/**
 * load-balancer and addons from the CLI bundle on three SSH test nodes (two control planes, one dedicated
 * worker): the haproxy static pod and its config on the worker, the control-plane domain resolving to it,
 * and addons turned into helm/kubectl calls on the first control plane (kubectl and helm are test doubles
 * that log their argv; no apiserver runs, so the kubeadm and runtime modules are skipped).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildMirror, serveMirror, type MirrorBuild, type MirrorServer } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { runCli, type ProcessResult } from '../support/bundle.js'
import { writeClusterFile } from './cluster.js'

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
  - name: extra
    namespace: tools
    sources:
      yaml:
        path: [addons/extra.yaml]
`,
    })
    // kubectl and helm need a kubeconfig, as the real ones need an apiserver: kubeadm-init would have written it.
    await onNode(nodes.nodes[0].name, 'mkdir -p /etc/kubernetes && printf "apiVersion: v1\\nkind: Config\\n" > /etc/kubernetes/admin.conf')
    result = await runCli([
      'deploy', '-f', file, '--known-hosts', nodes.knownHostsPath, '--mirror', server.url, '--checksums', mirror.checksumsFile,
      '--artifacts-dir', join(dir, 'artifacts'), '--logs', join(dir, 'logs'), ...SKIPPED.flatMap((id) => ['--skip', id]),
    ], { timeoutMs: 600_000 })
  }, 900_000)
  afterAll(async () => {
    await server?.close()
    await nodes?.stop()
  })

  it('the deploy succeeds', () => {
    expect(result.status, result.stderr).toBe(0)
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
    const install = log.split('\n').find((line) => line.includes("'upgrade'"))
    expect(install).toBeDefined()
    for (const part of ["'--install' 'web' 'nginx'", "'--namespace' 'web-ns'", "'--repo' 'https://charts.example.test/stable'",
      "'--version' '1.2.3'", "'--set' 'service.type=NodePort'", "'--kubeconfig' '/etc/kubernetes/admin.conf'"]) expect(install).toContain(part)
    const values = await onNode(nodes.nodes[0].name, 'cat /var/log/kk-doubles/files/*-helm-*values.yaml')
    expect(values.stdout).toContain('replicaCount: 2')
  })

  it('the yaml addon became kubectl apply of the sent file in its namespace', async () => {
    const log = (await onNode(nodes.nodes[0].name, 'cat /var/log/kk-doubles/kubectl.log')).stdout
    const apply = log.split('\n').find((line) => line.includes("'apply'"))
    expect(apply).toContain("'-f' '/etc/kubekey/addons/extra/0-extra.yaml' '--namespace' 'tools'")
    const applied = await onNode(nodes.nodes[0].name, 'cat /var/log/kk-doubles/files/*-kubectl-*extra.yaml')
    expect(applied.stdout).toContain('name: extra')
  })
})
