/**
 * REAL Kubernetes v1.20.2 on one test node that is control plane and worker, two ways the three-node test
 * does not cover:
 * - stacked etcd (etcd.type kubeadm: the etcd static pod, Debian's etcd under kubeadm's tag) with containerd,
 *   deployed whole;
 * - docker (Debian's docker.io 20.10, kubelet 1.20's built-in dockershim): kk-action deploys up to etcd, and
 *   the real kubeadm runs its preflight on the config kk-action renders for init. A whole deploy cannot run
 *   here: dockershim starts every pod sandbox with oom_score_adj -998, which root in these test nodes may not
 *   set (no CAP_SYS_RESOURCE; runc fails "can't get final child's PID from pipe"), so no static pod starts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveMirror, type MirrorServer } from '../fixtures/build-mirror.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { repoRoot, runCli } from '../support/bundle.js'
import { deployer, deployRealCluster, importImages, writeRealClusterFile, type Deployer, type RealCluster } from '../real-k8s/cluster.js'
import { buildRealMirror, realBinaries, realBinariesSkipReason, type RealMirror } from '../real-k8s/fixture.js'
import { keepLogsOnFailure } from '../real-k8s/keep-logs.js'

const skip = (await testNodesSkipReason()) ?? realBinariesSkipReason()
if (skip && process.env.CI) throw new Error(`the real-Kubernetes tests cannot run in CI: ${skip}`)

describe.skipIf(skip)('real Kubernetes v1.20.2 on one node: stacked etcd, containerd', () => {
  let nodes: TestNodes
  let k: Deployer
  let first: RealCluster['first']
  let cluster: RealCluster | undefined

  beforeAll(async () => {
    cluster = await deployRealCluster({
      prefix: 'kkrst', count: 1,
      cluster: ([node]) => ({ controlPlanes: [node], workers: [node], etcdType: 'kubeadm' }),
    })
    ;({ nodes, k, first } = cluster)
  }, 1_200_000)
  afterAll(() => cluster?.stop())
  keepLogsOnFailure('real-kkrst', () => ({ dir: cluster?.k.dir, nodes: cluster?.nodes })) // after hooks run last-first: before the stop

  it('deploys every module through smoke-test; the node is Ready', async () => {
    expect(first.status, first.stderr.slice(-8000)).toBe(0)
    expect(first.stderr).toMatch(/<== smoke-test: ok/)
    const got = await k.kubectl('get', 'nodes', '-o', 'jsonpath={range .items[*]}{.status.nodeInfo.containerRuntimeVersion} {.status.conditions[?(@.type=="Ready")].status}{end}')
    expect(got.stdout).toMatch(/^containerd:\/\/\S+ True$/)
  })

  it('etcd runs as kubeadm\'s static pod, not as a unit of kk-action\'s', async () => {
    const pods = await k.kubectl('get', 'pods', '-n', 'kube-system', '-l', 'component=etcd', '-o', 'name')
    const unit = await nodes.exec(nodes.nodes[0].name, ['systemctl', 'is-active', 'etcd'])
    expect(pods.stdout.trim()).toMatch(/^pod\/etcd-/)
    expect(unit.stdout.trim()).not.toBe('active')
  })

  it('a rerun makes 0 changes, and delete succeeds', async () => {
    const again = await k.cli('deploy')
    expect(again.stderr).toContain('deploy finished: 0 change(s), 0 byte(s) uploaded')
    const deleted = await k.cli('delete')
    expect(deleted.status, deleted.stderr.slice(-6000)).toBe(0)
  }, 900_000)
})

describe.skipIf(skip)('real Kubernetes v1.20.2 on one node: docker (dockershim), kubeadm preflight', () => {
  let nodes: TestNodes
  let mirror: RealMirror
  let server: MirrorServer
  let k: Deployer
  let rendered: string
  let dir: string

  beforeAll(async () => {
    const bins = realBinaries()!
    ;[nodes, mirror] = await Promise.all([startTestNodes({ count: 1, prefix: 'kkrdk' }), buildRealMirror(bins)])
    server = await serveMirror(mirror.root)
    // Inside the repository: the node sees it (its /tmp is its own).
    dir = mkdtempSync(join(repoRoot, '.kk-test', 'real-docker-'))
    const [node] = nodes.nodes.map((n) => n.name)
    const file = writeRealClusterFile(dir, nodes, mirror, { controlPlanes: [node], workers: [node], containerManager: 'docker' })
    k = deployer(dir, file, nodes, mirror, server.url, bins)
    const upToEtcd = await k.cli('deploy', '--until', 'etcd')
    expect(upToEtcd.status, upToEtcd.stderr.slice(-6000)).toBe(0)
    await importImages(nodes, [node], mirror, 'docker')
    const render = await runCli(['render', '-f', file, '--dest', join(dir, 'render'), '--checksums', mirror.checksumsFile, '--mirror', server.url])
    expect(render.status, render.stderr).toBe(0)
    rendered = join(dir, 'render', node, 'etc/kubernetes/kubeadm-config.yaml')
  }, 900_000)
  afterAll(async () => {
    await server?.close()
    await nodes?.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  keepLogsOnFailure('real-kkrdk', () => ({ dir: k?.dir, nodes })) // after hooks run last-first: before the stop

  const preflight = (config: string) => nodes.exec(nodes.nodes[0].name, ['sh', '-c', `/usr/local/bin/kubeadm init phase preflight --config ${config} 2>&1`])

  it('the real kubeadm\'s preflight passes with the config kk-action writes for init (criSocket /var/run/dockershim.sock)', async () => {
    expect(readFileSync(rendered, 'utf8')).toContain('criSocket: /var/run/dockershim.sock')
    const got = await preflight(rendered)
    expect(got.code, got.stdout).toBe(0)
    expect(got.stdout).not.toMatch(/\[ERROR/)
  }, 120_000)

  it('the unix:// form kk-action wrote before is a remote CRI to kubeadm v1.20: preflight fails', async () => {
    const remote = rendered.replace(/\.yaml$/, '-unix.yaml')
    writeFileSync(remote, readFileSync(rendered, 'utf8').replace('criSocket: /var/run/dockershim.sock', 'criSocket: unix:///var/run/dockershim.sock'))
    const got = await preflight(remote)
    expect(got.code).not.toBe(0)
    expect(got.stdout).toMatch(/\[ERROR CRI\]/)
  }, 120_000)
})
