import { hostname, networkInterfaces } from 'node:os'
import type { Arch, ClusterConfig, Host } from './types.js'

const NODE_ARCH: Partial<Record<string, Arch>> = { x64: 'amd64', arm64: 'arm64' }

/** The runner as a node name Kubernetes accepts (RFC 1123, lowercase). */
export function runnerNodeName(name = hostname()): string {
  const cleaned = name.toLowerCase().replace(/[^a-z0-9.-]/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
  return cleaned.slice(0, 63) || 'kk-runner'
}

/** The runner's first non-internal IPv4 address (what kubeadm advertises), else loopback. */
export function runnerAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    const found = addresses?.find((a) => a.family === 'IPv4' && !a.internal)
    if (found) return found.address
  }
  return '127.0.0.1'
}

/**
 * `nodes: ephemeral`: the runner itself as the one node of the cluster (etcd, control plane, worker),
 * reached through the local connection; the config's own hosts are not contacted.
 */
export function asEphemeral(config: ClusterConfig, runner = { name: runnerNodeName(), address: runnerAddress(), arch: NODE_ARCH[process.arch] ?? 'amd64' }): ClusterConfig {
  const host: Host = {
    name: runner.name, address: runner.address, internalAddress: runner.address, port: 22, user: 'root',
    arch: runner.arch, roles: ['etcd', 'control-plane', 'worker'], labels: {},
  }
  return {
    ...config,
    hosts: [host],
    roleGroups: { etcd: [host.name], 'control-plane': [host.name], worker: [host.name] },
    controlPlaneEndpoint: { ...config.controlPlaneEndpoint, internalLoadbalancer: undefined, address: '' },
  }
}
