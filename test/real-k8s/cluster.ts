/**
 * A real Kubernetes v1.20.2 cluster on the namespace test nodes, deployed by kk-action: the cluster config,
 * the user's own CNI (`network.plugin: none`: Debian's bridge plugin, one /24 of the pod CIDR per node and
 * host routes between nodes, what a CNI daemon would do), image import and kubectl from the runner.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serveMirror, type MirrorServer } from '../fixtures/build-mirror.js'
import { startTestNodes, type TestNodes } from '../nodes/testnodes.js'
import { run, runCli, type ProcessResult } from '../support/bundle.js'
import { buildRealMirror, REAL_VERSION, realBinaries, type RealMirror } from './fixture.js'

export const POD_CIDR = '10.233.64.0/18'
/** KubeKey's default kubeServiceCIDR. */
export const SERVICE_CIDR = '10.233.0.0/18'
const podSubnet = (index: number): string => `10.233.${64 + index}.0/24`

export interface RealClusterOptions {
  controlPlanes: string[]
  workers: string[]
  etcd?: string[]
  etcdType?: 'kubekey' | 'kubeadm'
  containerManager?: 'containerd' | 'docker'
  /** Extra lines under `spec:` (indented by two spaces). */
  extraSpec?: string
  /** Extra lines under `spec.kubernetes:` (indented by four spaces). */
  extraKubernetes?: string
}

/** The KubeKey config for the real cluster: versions and sums from the real mirror. */
export function writeRealClusterFile(dir: string, nodes: TestNodes, mirror: RealMirror, options: RealClusterOptions): string {
  const versions = Object.entries(mirror.componentVersions).map(([k, v]) => `    ${k}: "${v}"`).join('\n')
  const etcdType = options.etcdType ?? 'kubekey'
  const text = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata:
  name: real
spec:
  hosts:
${nodes.nodes.map((n) => `  - {name: ${n.name}, address: ${n.address}, internalAddress: ${n.address}, user: root, privateKeyPath: "${nodes.keyPath}"}`).join('\n')}
  roleGroups:
    etcd: [${(options.etcd ?? options.controlPlanes).join(', ')}]
    control-plane: [${options.controlPlanes.join(', ')}]
    worker: [${options.workers.join(', ')}]
  kubernetes:
    version: ${REAL_VERSION}
    containerManager: ${options.containerManager ?? 'containerd'}
    proxyMode: iptables
    # /proc/sys/net/netfilter/nf_conntrack_max is read-only outside the initial network namespace.
    kubeProxyConfiguration:
      conntrack: {maxPerCore: 0}
${options.extraKubernetes ?? ''}
  etcd:
    type: ${etcdType}
  network:
    plugin: none
    kubePodsCIDR: ${POD_CIDR}
  componentVersions:
${versions}
${options.extraSpec ?? ''}`
  const file = join(dir, 'cluster.yaml')
  writeFileSync(file, text)
  return file
}

/** The user's own CNI on every node: a bridge conflist and routes to the other nodes' pod subnets. */
export async function placeUserCni(nodes: TestNodes): Promise<void> {
  await Promise.all(nodes.nodes.map(async (node, i) => {
    const conflist = JSON.stringify({
      cniVersion: '0.4.0',
      name: 'kk-test-bridge',
      plugins: [
        { type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: true, hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: podSubnet(i) }]], routes: [{ dst: '0.0.0.0/0' }] } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }, null, 2)
    const routes = nodes.nodes.flatMap((other, j) => (j === i ? [] : [`ip route replace ${podSubnet(j)} via ${other.address}`]))
    // A node here has no default route (nothing leaves the test bridge). A ClusterIP from the node itself needs
    // a route before kube-proxy's DNAT, which a real machine's default route gives: this one stays on the link.
    routes.push(`ip route replace ${SERVICE_CIDR} dev "$(ip -o -4 addr show | grep -F ' ${node.address}/' | awk '{ print $2 }')"`)
    const script = ['set -e', 'mkdir -p /etc/cni/net.d', `cat > /etc/cni/net.d/10-kk-test-bridge.conflist <<'EOF'\n${conflist}\nEOF`, ...routes].join('\n')
    const done = await nodes.exec(node.name, ['sh', '-c', script])
    if (done.code !== 0) throw new Error(`CNI on ${node.name}: ${done.stderr}`)
  }))
}

/** Imports every image into each node's runtime (the images issue will make this kk-action's job). */
export async function importImages(nodes: TestNodes, names: string[], mirror: RealMirror, runtime: 'containerd' | 'docker'): Promise<void> {
  const tars = [...mirror.images.kubeadm, mirror.images.haproxy, mirror.images.workload].map((image) => image.tar)
  await Promise.all(names.map(async (name) => {
    for (const tar of tars) {
      const argv = runtime === 'containerd' ? ['ctr', '-n', 'k8s.io', 'images', 'import', tar] : ['docker', 'load', '-i', tar]
      const done = await nodes.exec(name, argv)
      if (done.code !== 0) throw new Error(`importing ${tar} on ${name}: ${done.stderr}`)
    }
  }))
}

export interface Deployer {
  dir: string
  kubeconfig: string
  cli(command: 'deploy' | 'delete', ...extra: string[]): Promise<ProcessResult & { logs: string }>
  kubectl(...args: string[]): Promise<ProcessResult>
  /** `kubectl apply -f -` of a manifest. */
  apply(manifest: string): Promise<ProcessResult>
}

export function deployer(dir: string, file: string, nodes: TestNodes, mirror: RealMirror, mirrorUrl: string, bins: string): Deployer {
  const kubeconfig = join(dir, 'kubeconfig')
  let runs = 0
  return {
    dir,
    kubeconfig,
    async cli(command, ...extra) {
      const logs = join(dir, `logs-${++runs}-${command}`)
      mkdirSync(logs, { recursive: true })
      const result = await runCli([
        command, '-f', file, '--known-hosts', nodes.knownHostsPath, '--mirror', mirrorUrl, '--checksums', mirror.checksumsFile,
        '--artifacts-dir', join(dir, 'artifacts'), '--logs', logs, ...(command === 'deploy' ? ['--kubeconfig', kubeconfig] : []), ...extra,
      ], { timeoutMs: 1_500_000 })
      return { ...result, logs }
    },
    kubectl: (...args) => run(join(bins, 'kubectl'), ['--kubeconfig', kubeconfig, '--request-timeout=20s', ...args], { timeoutMs: 240_000 }),
    apply: (manifest) => run(join(bins, 'kubectl'), ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], { input: manifest, timeoutMs: 60_000 }),
  }
}

export interface RealCluster {
  nodes: TestNodes
  mirror: RealMirror
  server: MirrorServer
  k: Deployer
  /** The whole deploy's result. */
  first: ProcessResult & { logs: string }
  stop(): Promise<void>
}

/**
 * Test nodes, the real mirror, the user's CNI, then kk-action: the runtime first, the images imported by hand
 * (kk-action has no image path yet: the images issue), then the whole deploy. `beforeDeploy` sees the nodes
 * as the user hands them over (for snapshots).
 */
export async function deployRealCluster(options: {
  prefix: string
  count: number
  cluster: (names: string[]) => RealClusterOptions
  beforeDeploy?: (nodes: TestNodes) => Promise<void>
}): Promise<RealCluster> {
  const bins = realBinaries()!
  const [nodes, mirror] = await Promise.all([startTestNodes({ count: options.count, prefix: options.prefix }), buildRealMirror(bins)])
  const server = await serveMirror(mirror.root)
  const stop = async () => { await server.close(); await nodes.stop() }
  const dir = mkdtempSync(join(tmpdir(), `kk-real-${options.prefix}-`))
  const names = nodes.nodes.map((n) => n.name)
  const cluster = options.cluster(names)
  const k = deployer(dir, writeRealClusterFile(dir, nodes, mirror, cluster), nodes, mirror, server.url, bins)
  await placeUserCni(nodes)
  await options.beforeDeploy?.(nodes)
  const runtime = cluster.containerManager ?? 'containerd'
  const untilRuntime = await k.cli('deploy', '--until', runtime)
  if (untilRuntime.status !== 0) return { nodes, mirror, server, k, first: untilRuntime, stop }
  await importImages(nodes, names, mirror, runtime)
  return { nodes, mirror, server, k, first: await k.cli('deploy'), stop }
}
