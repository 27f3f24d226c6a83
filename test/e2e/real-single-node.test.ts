/**
 * REAL Kubernetes v1.20.2 on one test node that is control plane and worker, two ways the three-node test
 * does not cover: stacked etcd (etcd.type kubeadm, the etcd static pod from Debian's etcd under kubeadm's
 * tag) with containerd, and docker (Debian's docker.io 20.10, kubelet 1.20's built-in dockershim).
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveMirror, type MirrorServer } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { deployer, importImages, placeUserCni, writeRealClusterFile, type Deployer } from '../real-k8s/cluster.js'
import { buildRealMirror, realBinaries, realBinariesSkipReason, type RealMirror } from '../real-k8s/fixture.js'
import { keepLogsOnFailure } from '../real-k8s/keep-logs.js'

const skip = (await testNodesSkipReason()) ?? realBinariesSkipReason()
if (skip && process.env.CI) throw new Error(`the real-Kubernetes tests cannot run in CI: ${skip}`)

const scenarios = [
  { title: 'stacked etcd, containerd', prefix: 'kkrst', etcdType: 'kubeadm', runtime: 'containerd' },
  { title: 'docker (dockershim), etcd kubekey', prefix: 'kkrdk', etcdType: 'kubekey', runtime: 'docker' },
] as const

describe.skipIf(skip).each(scenarios)('real Kubernetes v1.20.2 on one node: $title', ({ prefix, etcdType, runtime }) => {
  let nodes: TestNodes
  let mirror: RealMirror
  let server: MirrorServer
  let k: Deployer
  let first: Awaited<ReturnType<Deployer['cli']>>

  beforeAll(async () => {
    const bins = realBinaries()!
    ;[nodes, mirror] = await Promise.all([startTestNodes({ count: 1, prefix }), buildRealMirror(bins)])
    server = await serveMirror(mirror.root)
    const dir = mkdtempSync(join(tmpdir(), `kk-real-${prefix}-`))
    const [node] = nodes.nodes.map((n) => n.name)
    const file = writeRealClusterFile(dir, nodes, mirror, { controlPlanes: [node], workers: [node], etcdType, containerManager: runtime })
    k = deployer(dir, file, nodes, mirror, server.url, bins)
    await placeUserCni(nodes)
    const untilRuntime = await k.cli('deploy', '--until', runtime)
    expect(untilRuntime.status, untilRuntime.stderr.slice(-6000)).toBe(0)
    await importImages(nodes, [node], mirror, runtime)
    first = await k.cli('deploy')
  }, 1_200_000)
  afterAll(async () => {
    await server?.close()
    await nodes?.stop()
  })
  keepLogsOnFailure(`real-${prefix}`, () => ({ dir: k?.dir, nodes })) // after hooks run last-first: before the stop

  it('deploys every module through smoke-test; the node is Ready', async () => {
    expect(first.status, first.stderr.slice(-8000)).toBe(0)
    expect(first.stderr).toMatch(/<== smoke-test: ok/)
    const got = await k.kubectl('get', 'nodes', '-o', 'jsonpath={range .items[*]}{.status.nodeInfo.containerRuntimeVersion} {.status.conditions[?(@.type=="Ready")].status}{end}')
    expect(got.stdout).toMatch(new RegExp(`^${runtime}://\\S+ True$`))
  })

  it(etcdType === 'kubeadm' ? 'etcd runs as kubeadm\'s static pod' : 'etcd runs as kk-action\'s systemd unit', async () => {
    const pods = await k.kubectl('get', 'pods', '-n', 'kube-system', '-l', 'component=etcd', '-o', 'name')
    const unit = await nodes.exec(nodes.nodes[0].name, ['systemctl', 'is-active', 'etcd'])
    if (etcdType === 'kubeadm') {
      expect(pods.stdout.trim()).toMatch(/^pod\/etcd-/)
      expect(unit.stdout.trim()).not.toBe('active')
    } else {
      expect(pods.stdout.trim()).toBe('')
      expect(unit.stdout.trim()).toBe('active')
    }
  })

  it('a rerun makes 0 changes, and delete succeeds', async () => {
    const again = await k.cli('deploy')
    expect(again.stderr).toContain('deploy finished: 0 change(s), 0 byte(s) uploaded')
    const deleted = await k.cli('delete')
    expect(deleted.status, deleted.stderr.slice(-6000)).toBe(0)
  }, 900_000)
})
