/**
 * An HA cluster behind haproxy from the CLI bundle on three SSH test nodes (two control planes with stacked
 * etcd, one dedicated worker), through the kubeadm double: `kubeadm join` resolves the discovery endpoint
 * through the node's /etc/hosts and succeeds only where an apiserver stand-in really listens (started by
 * `kubeadm init` and control-plane joins), and its preflight refuses what the real one refuses. So a host
 * that joins against itself, or against a haproxy whose static pod cannot run yet, fails here as it does on
 * real machines.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildMirror, serveMirror, type MirrorBuild, type MirrorServer } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { runCli, type ProcessResult } from '../support/bundle.js'
import { writeClusterFile } from './cluster.js'

const skip = await testNodesSkipReason()

describe.skipIf(skip)('kk-action deploy: 2 control planes and a worker behind haproxy (kubeadm double with discovery)', () => {
  let nodes: TestNodes
  let mirror: MirrorBuild
  let server: MirrorServer
  let dir: string
  let file: string
  let first: ProcessResult
  const onNode = async (name: string, command: string) => nodes.exec(name, ['sh', '-c', command])
  const deploy = (logs: string) => runCli([
    'deploy', '-f', file, '--known-hosts', nodes.knownHostsPath, '--mirror', server.url, '--checksums', mirror.checksumsFile,
    '--artifacts-dir', join(dir, 'artifacts'), '--logs', join(dir, logs), '--skip', 'smoke-test',
  ], { timeoutMs: 900_000 })
  const domainOn = async (name: string) => (await onNode(name, 'getent hosts lb.kubesphere.local')).stdout.trim().split(/\s+/)[0]

  beforeAll(async () => {
    ;[nodes, mirror] = await Promise.all([startTestNodes({ count: 3, prefix: 'kkha' }), buildMirror()])
    server = await serveMirror(mirror.root)
    dir = mkdtempSync(join(tmpdir(), 'kk-e2e-ha-'))
    file = writeClusterFile(dir, nodes, mirror, {
      controlPlanes: 2,
      etcdType: 'kubeadm',
      extraSpec: '  controlPlaneEndpoint:\n    domain: lb.kubesphere.local\n    port: 6443\n    internalLoadbalancer: haproxy\n',
    })
    first = await deploy('logs-1')
  }, 1_200_000)
  afterAll(async () => {
    await server?.close()
    await nodes?.stop()
  })

  it('succeeds: the second control plane and the worker joined', () => {
    expect(first.status, first.stderr.slice(-6000)).toBe(0)
    expect(first.stderr).toMatch(/<== join-control-plane: ok/)
    expect(first.stderr).toMatch(/<== join-workers: ok/)
  })

  it('the joining control plane dialled the first one, not itself', async () => {
    const [cp1, cp2] = nodes.nodes
    expect(await domainOn(cp2.name)).toBe(cp1.address)
    const log = (await onNode(cp2.name, 'cat /var/log/kk-doubles/kubeadm.log')).stdout
    expect(log).not.toMatch(/discovery failed/)
  })

  it('haproxy comes after the joins: the worker joined with an empty manifests directory, then points the domain at its haproxy', async () => {
    const worker = nodes.nodes[2].name
    const log = (await onNode(worker, 'cat /var/log/kk-doubles/kubeadm.log')).stdout
    expect(log).toMatch(/join preflight: manifests directory holds \[\]/)
    expect((await onNode(worker, 'test -f /etc/kubernetes/manifests/haproxy.yaml; echo $?')).stdout.trim()).toBe('0')
    expect(await domainOn(worker)).toBe('127.0.0.1')
    const order = first.stderr.split('\n').filter((line) => /^==> /.test(line)).map((line) => line.split(' ')[1])
    expect(order.indexOf('load-balancer')).toBeGreaterThan(order.indexOf('join-workers'))
  })

  it('a rerun keeps the worker on its haproxy and joins nobody again', async () => {
    const again = await deploy('logs-2')
    expect(again.status, again.stderr.slice(-6000)).toBe(0)
    expect(await domainOn(nodes.nodes[2].name)).toBe('127.0.0.1')
    expect(again.stderr).not.toMatch(/node3 +\/etc\/hosts +changed/)
    expect(again.stderr).toMatch(/already joined/)
  }, 900_000)
})
