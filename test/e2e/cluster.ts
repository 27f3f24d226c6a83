import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TestNodes } from '../nodes/testnodes.js'
import type { MirrorBuild } from '../fixtures/build-mirror.js'

export interface ClusterFileOptions {
  kubernetesVersion?: string
  containerManager?: 'containerd' | 'docker'
  controlPlanes?: number
  etcdType?: 'kubekey' | 'kubeadm' | 'external'
  extraSpec?: string
  /** The `network:` block's body, indented by four spaces; default `plugin: none`. */
  network?: string
  /** More lines of the `kubernetes:` block, indented by four spaces. */
  kubernetesExtra?: string
}

/** A KubeKey cluster config for the test nodes: first hosts control planes + etcd, every node a worker. */
export function writeClusterFile(dir: string, nodes: TestNodes, mirror: MirrorBuild, options: ClusterFileOptions = {}): string {
  const names = nodes.nodes.map((n) => n.name)
  const controlPlanes = names.slice(0, options.controlPlanes ?? 1)
  const versions = Object.entries(mirror.componentVersions).map(([k, v]) => `    ${k}: "${v}"`).join('\n')
  const text = `apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata:
  name: e2e
spec:
  hosts:
${nodes.nodes.map((n) => `  - {name: ${n.name}, address: ${n.address}, internalAddress: ${n.address}, user: root, privateKeyPath: "${nodes.keyPath}"}`).join('\n')}
  roleGroups:
    etcd: [${(options.etcdType ?? 'kubekey') === 'kubekey' ? names.join(', ') : controlPlanes.join(', ')}]
    control-plane: [${controlPlanes.join(', ')}]
    worker: [${names.join(', ')}]
  kubernetes:
    version: ${options.kubernetesVersion ?? 'v1.30.1'}
    containerManager: ${options.containerManager ?? 'containerd'}
    proxyMode: iptables
${options.kubernetesExtra ?? ''}
  etcd:
    type: ${options.etcdType ?? 'kubekey'}
  network:
${options.network ?? '    plugin: none'}
  componentVersions:
${versions}
${options.extraSpec ?? ''}`
  const file = join(dir, 'cluster.yaml')
  writeFileSync(file, text)
  return file
}
