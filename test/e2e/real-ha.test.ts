/**
 * REAL Kubernetes v1.20.2, highly available: three control planes (each with a member of kk-action's etcd)
 * joined with the uploaded certificate key, and a worker that reaches the apiservers through its local
 * haproxy (internalLoadbalancer: haproxy, Debian's haproxy in the static pod). Then the first control plane
 * is killed (SIGKILL of its PID 1): the worker keeps renewing its node lease through the other two.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { run } from '../support/bundle.js'
import { deployRealCluster, type Deployer, type RealCluster } from '../real-k8s/cluster.js'
import { realBinaries, realBinariesSkipReason } from '../real-k8s/fixture.js'
import { keepLogsOnFailure } from '../real-k8s/keep-logs.js'

const skip = (await testNodesSkipReason()) ?? realBinariesSkipReason()
if (skip && process.env.CI) throw new Error(`the real-Kubernetes tests cannot run in CI: ${skip}`)

describe.skipIf(skip)('real Kubernetes v1.20.2 HA: 3 control planes, haproxy on the worker, one control plane killed', () => {
  let nodes: TestNodes
  let k: Deployer
  let first: RealCluster['first']
  let cluster: RealCluster | undefined
  const names = () => nodes.nodes.map((n) => n.name)

  beforeAll(async () => {
    cluster = await deployRealCluster({
      prefix: 'kkrha', count: 4,
      cluster: ([cp1, cp2, cp3, worker]) => ({
        controlPlanes: [cp1, cp2, cp3], workers: [worker],
        extraSpec: '  controlPlaneEndpoint: {internalLoadbalancer: haproxy, domain: lb.kubesphere.local, port: 6443}',
      }),
    })
    ;({ nodes, k, first } = cluster)
  }, 1_800_000)
  afterAll(() => cluster?.stop())
  keepLogsOnFailure('real-ha', () => ({ dir: cluster?.k.dir, nodes: cluster?.nodes })) // after hooks run last-first: before the stop

  it('deploys: the other control planes and the worker join, the smoke test passes', async () => {
    expect(first.status, first.stderr.slice(-8000)).toBe(0)
    for (const id of ['load-balancer', 'join-control-plane', 'join-workers', 'smoke-test']) expect(first.stderr).toMatch(new RegExp(`<== ${id}: ok`))
    const got = await k.kubectl('get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}')
    expect(got.stdout.trim().split('\n').sort()).toEqual(names().map((n) => `${n} True`))
    const members = await k.kubectl('get', 'pods', '-n', 'kube-system', '-l', 'component=kube-apiserver', '-o', 'name')
    expect(members.stdout.trim().split('\n')).toHaveLength(3)
  })

  it('the worker talks to the apiservers through its local haproxy', async () => {
    const worker = names()[3]
    const kubelet = await nodes.exec(worker, ['sh', '-c', "grep 'server:' /etc/kubernetes/kubelet.conf"])
    expect(kubelet.stdout).toMatch(/server: https:\/\/lb\.kubesphere\.local:6443/)
    const hosts = await nodes.exec(worker, ['sh', '-c', 'getent hosts lb.kubesphere.local'])
    expect(hosts.stdout).toMatch(/^127\.0\.0\.1\s/)
    const proxied = await nodes.exec(worker, ['sh', '-c', 'ss -tnp state established "( dport = :6443 )" | grep -c haproxy || true'])
    expect(Number(proxied.stdout.trim()), 'haproxy has upstream connections').toBeGreaterThan(0)
  })

  it('with the first control plane killed, the worker stays Ready through the other two', async () => {
    const [cp1, cp2, , worker] = names()
    // The runner's kubeconfig points at the first control plane; talk to the second from now on.
    const viaCp2 = join(k.dir, 'kubeconfig-cp2')
    writeFileSync(viaCp2, readFileSync(k.kubeconfig, 'utf8').replace(/server: https:\/\/[^\s]+/, `server: https://${nodes.node(cp2).address}:6443`), { mode: 0o600 })
    const kubectl = (...args: string[]) => run(join(realBinaries()!, 'kubectl'), ['--kubeconfig', viaCp2, '--request-timeout=20s', ...args], { timeoutMs: 60_000 })
    const killedAt = Date.now()
    await nodes.kill(cp1)
    // The kubelet renews its lease every 10 s; 40 s without a renewal would make the node NotReady.
    let renewed = 0
    for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 5000))
      const lease = await kubectl('get', 'lease', '-n', 'kube-node-lease', worker, '-o', 'jsonpath={.spec.renewTime}')
      if (lease.status === 0 && Date.parse(lease.stdout.trim()) > killedAt + 30_000) { renewed = Date.parse(lease.stdout.trim()); break }
    }
    expect(renewed, 'the worker renewed its lease 30 s after the kill').toBeGreaterThan(0)
    const ready = await kubectl('get', 'node', worker, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')
    expect(ready.stdout.trim()).toBe('True')
  }, 300_000)
})
