/**
 * REAL Kubernetes v1.20.2 (kubeadm, kubelet, apiserver, … built from Debian's source by
 * test/real-k8s/build.sh) deployed by the bundled CLI onto three namespace test nodes: one control plane
 * with kk-action's etcd (Debian's etcd 3.4, etcd.type kubekey), two workers, containerd from Debian,
 * `network.plugin: none` with the user's own bridge CNI. Nothing here is a test double except kk-crictl
 * (stand-in for cri-tools' crictl) and the CoreDNS stand-in image (test/real-k8s/images.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testNodesSkipReason, type TestNodes } from '../nodes/testnodes.js'
import { differences, NOISE, snapshot, type Snapshot } from '../support/overlay.js'
import { deployRealCluster, type Deployer, type RealCluster } from '../real-k8s/cluster.js'
import { realBinariesSkipReason } from '../real-k8s/fixture.js'
import { keepLogsOnFailure } from '../real-k8s/keep-logs.js'

const skip = (await testNodesSkipReason()) ?? realBinariesSkipReason()
if (skip && process.env.CI) throw new Error(`the real-Kubernetes tests cannot run in CI: ${skip}`)

// Besides the usual noise: the user's CNI keeps its IPAM state in /var/lib/cni (not kk-action's to remove),
// and kube-proxy's hostPath mount makes /lib/modules, which every real machine has and this kernel lacks.
const REAL_NOISE = [...NOISE, /^var\/lib\/cni(\/|$)/, /^usr\/lib\/modules$/]

const WORKLOAD = `apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: echo}}}
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms: [{matchExpressions: [{key: node-role.kubernetes.io/master, operator: DoesNotExist}]}]
      containers:
      - name: echo
        image: docker.io/library/kk-busybox:test
        imagePullPolicy: Never
        command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 2}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080}]
`

describe.skipIf(skip)('real Kubernetes v1.20.2: 1 control plane + 2 workers, containerd, etcd kubekey, user CNI', () => {
  let nodes: TestNodes
  let k: Deployer
  let first: RealCluster['first']
  let cluster: RealCluster | undefined
  const before = new Map<string, Snapshot>()
  const names = () => nodes.nodes.map((n) => n.name)

  beforeAll(async () => {
    cluster = await deployRealCluster({
      prefix: 'kkreal', count: 3,
      cluster: ([cp, w1, w2]) => ({ controlPlanes: [cp], workers: [w1, w2] }),
      beforeDeploy: async (handed) => { for (const node of handed.nodes) before.set(node.name, await snapshot(node, REAL_NOISE)) },
    })
    ;({ nodes, k, first } = cluster)
  }, 1_500_000)
  afterAll(() => cluster?.stop())
  keepLogsOnFailure('real-cluster', () => ({ dir: cluster?.k.dir, nodes: cluster?.nodes })) // after hooks run last-first: before the stop

  it('deploys every module through smoke-test', () => {
    expect(first.status, first.stderr.slice(-8000)).toBe(0)
    for (const id of ['etcd', 'kubeadm-init', 'join-workers', 'kubeconfig', 'smoke-test']) expect(first.stderr).toMatch(new RegExp(`<== ${id}: ok`))
  })

  it('kubectl through the kubeconfig shows 3 Ready nodes at v1.20.2', async () => {
    const got = await k.kubectl('get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}')
    expect(got.status, got.stderr).toBe(0)
    expect(got.stdout.trim().split('\n').sort()).toEqual(names().map((n) => `${n} v1.20.2 True`))
  })

  it('a workload spreads over the workers and answers through its Service', async () => {
    const apply = await k.apply(WORKLOAD)
    expect(apply.status, apply.stderr).toBe(0)
    const rolled = await k.kubectl('rollout', 'status', 'deployment/echo', '--timeout=180s')
    expect(rolled.status, rolled.stderr + rolled.stdout).toBe(0)
    const placed = await k.kubectl('get', 'pods', '-l', 'app=echo', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{"\\n"}{end}')
    const pods = placed.stdout.trim().split('\n').map((line) => line.split(' '))
    const [, w1, w2] = names()
    expect(pods.map(([, node]) => node).sort()).toEqual([w1, w2])
    const ip = (await k.kubectl('get', 'service', 'echo', '-o', 'jsonpath={.spec.clusterIP}')).stdout.trim()
    // From the control plane's host network: kube-proxy's rules take the ClusterIP to a pod on a worker.
    const answers = new Set<string>()
    const errors: string[] = []
    for (let i = 0; i < 30 && answers.size < 2; i++) {
      const got = await nodes.exec(names()[0], ['wget', '-q', '-T', '5', '-O', '-', `http://${ip}/`])
      if (got.code === 0) answers.add(got.stdout.trim())
      else errors.push(got.stderr.trim())
    }
    const podIps = (await k.kubectl('get', 'pods', '-l', 'app=echo', '-o', 'jsonpath={.items[*].status.podIP}')).stdout.trim().split(' ')
    const direct = await Promise.all(podIps.map(async (podIp) => (await nodes.exec(names()[0], ['wget', '-q', '-T', '5', '-O', '-', `http://${podIp}:8080/`])).code))
    expect([...answers].sort(), `service ${ip}: ${errors.slice(0, 3).join(' | ')}; pod IPs ${podIps.join(' ')} answered directly: ${direct.join(' ')}`)
      .toEqual(pods.map(([pod]) => pod).sort())
  }, 300_000)

  it('a rerun makes 0 changes and uploads 0 bytes', async () => {
    const again = await k.cli('deploy')
    expect(again.status, again.stderr.slice(-6000)).toBe(0)
    expect(again.stderr).toContain('deploy finished: 0 change(s), 0 byte(s) uploaded')
  }, 900_000)

  it('delete leaves each node as before the deploy (the user CNI stays)', async () => {
    const deleted = await k.cli('delete')
    expect(deleted.status, deleted.stderr.slice(-6000)).toBe(0)
    for (const node of nodes.nodes) {
      expect(differences(before.get(node.name)!, await snapshot(node, REAL_NOISE)), node.name).toEqual([])
      const cni = await nodes.exec(node.name, ['cat', '/etc/cni/net.d/10-kk-test-bridge.conflist'])
      expect(cni.code, node.name).toBe(0)
    }
  }, 900_000)
})
