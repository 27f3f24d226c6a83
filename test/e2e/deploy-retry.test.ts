/**
 * A failed kubeadm init and a failed kubeadm join are retried with the files `kubeadm reset` deleted put back
 * (the bundled CLI on three SSH test nodes: two control planes behind kube-vip, a worker; registry
 * credentials for the kubelet). The kubeadm double fails once on request (fail/ files with `once`); its init brings up
 * kube-vip's VIP only when kube-vip's manifest is there, as the kubelet would, and the worker's join dials
 * the VIP: a retried init without the manifest leaves nobody to join.
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
const FAILURE = 'once\nerror execution phase wait-control-plane: couldn\'t initialize a Kubernetes cluster (kk-action fault test)\n'

describe.skipIf(skip)('kk-action deploy: kubeadm init and join fail once, the retries keep their files', () => {
  let nodes: TestNodes
  let mirror: MirrorBuild
  let server: MirrorServer
  let result: ProcessResult
  const onNode = async (name: string, command: string) => nodes.exec(name, ['sh', '-c', command])

  beforeAll(async () => {
    ;[nodes, mirror] = await Promise.all([startTestNodes({ count: 3, prefix: 'kkrt' }), buildMirror()])
    server = await serveMirror(mirror.root)
    const dir = mkdtempSync(join(tmpdir(), 'kk-e2e-retry-'))
    const vip = nodes.nodes[0].address.replace(/\.\d+$/, '.200')
    const file = writeClusterFile(dir, nodes, mirror, {
      controlPlanes: 2,
      etcdType: 'kubeadm',
      extraSpec: `  controlPlaneEndpoint:
    domain: lb.kubesphere.local
    address: ${vip}
    port: 6443
    internalLoadbalancer: kube-vip
  registry:
    auths:
      "registry.example.test:5000":
        username: kk
        password: fault-test-secret
`,
    })
    const [cp, , worker] = nodes.nodes.map((n) => n.name)
    await onNode(cp, `mkdir -p /var/lib/kk-doubles/fail && printf '%s' '${FAILURE.replace(/'/g, "'\\''")}' > /var/lib/kk-doubles/fail/kubeadm-init`)
    await onNode(worker, `mkdir -p /var/lib/kk-doubles/fail && printf '%s' '${FAILURE.replace(/'/g, "'\\''")}' > /var/lib/kk-doubles/fail/kubeadm-join`)
    result = await runCli([
      'deploy', '-f', file, '--known-hosts', nodes.knownHostsPath, '--mirror', server.url, '--checksums', mirror.checksumsFile,
      '--artifacts-dir', join(dir, 'artifacts'), '--logs', join(dir, 'logs'), '--skip', 'smoke-test',
    ], { timeoutMs: 900_000 })
  }, 1_200_000)
  afterAll(async () => {
    await server?.close()
    await nodes?.stop()
  })

  it('succeeds after one failed init and one failed join', async () => {
    expect(result.status, result.stderr.slice(-6000)).toBe(0)
    const [cp, , worker] = nodes.nodes.map((n) => n.name)
    expect((await onNode(cp, 'cat /var/log/kk-doubles/kubeadm.log')).stdout).toMatch(/failed on request .*kubeadm-init/)
    expect((await onNode(worker, 'cat /var/log/kk-doubles/kubeadm.log')).stdout).toMatch(/failed on request .*kubeadm-join/)
  })

  it('the retried init still had kube-vip\'s manifest (the VIP came up and the worker joined through it)', async () => {
    const cp = nodes.nodes[0].name
    expect((await onNode(cp, 'test -f /etc/kubernetes/manifests/kube-vip.yaml; echo $?')).stdout.trim()).toBe('0')
    expect((await onNode(cp, 'cat /var/log/kk-doubles/kubeadm.log')).stdout).toMatch(/kube-vip stand-in: /)
    expect(result.stderr).toMatch(/<== join-workers: ok/)
  })

  it('the second control plane joined through the VIP with an empty manifests directory, and got kube-vip after', async () => {
    const cp2 = nodes.nodes[1].name
    expect((await onNode(cp2, 'cat /var/log/kk-doubles/kubeadm.log')).stdout).toMatch(/join preflight: manifests directory holds \[\]/)
    expect((await onNode(cp2, 'test -f /etc/kubernetes/manifests/kube-vip.yaml; echo $?')).stdout.trim()).toBe('0')
    const order = result.stderr.split('\n').filter((line) => /^==> /.test(line)).map((line) => line.split(' ')[1])
    expect(order.indexOf('load-balancer')).toBeGreaterThan(order.indexOf('join-control-plane'))
  })

  it('every host still has the kubelet\'s registry credentials (the control plane and the worker after their reset)', async () => {
    for (const node of nodes.nodes) {
      const credentials = await onNode(node.name, 'cat /var/lib/kubelet/config.json')
      expect(credentials.stdout, node.name).toContain('registry.example.test:5000')
    }
  })
})
