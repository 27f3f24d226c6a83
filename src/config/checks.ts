import type { ClusterConfig } from './types.js'
import type { ConfigSource } from './source.js'

/** Rules across fields that KubeKey enforces (or would fail on later); run after defaults are applied. */
export function checkCluster(config: ClusterConfig, source: ConfigSource): void {
  requireControlPlane(config, source)
  requireEtcdHosts(config, source)
  requireExternalEtcdEndpoints(config, source)
  checkLoadBalancer(config, source)
}

/** KubeKey's own warning, as a notice: several control planes need a shared endpoint. */
export function controlPlaneEndpointNotices(config: ClusterConfig): string[] {
  const { internalLoadbalancer, address } = config.controlPlaneEndpoint
  const externalDNS = (config.spec.controlPlaneEndpoint as { externalDNS?: boolean } | undefined)?.externalDNS === true
  if (config.roleGroups['control-plane'].length < 2 || internalLoadbalancer || address || externalDNS) return []
  return [
    `${config.file}: ${config.roleGroups['control-plane'].length} control-plane hosts but no load balancer: set spec.controlPlaneEndpoint.internalLoadbalancer (haproxy or kube-vip), an address, or externalDNS: true — otherwise the API endpoint is the first control plane only`,
  ]
}

function requireControlPlane(config: ClusterConfig, source: ConfigSource): void {
  if (config.roleGroups['control-plane'].length > 0) return
  throw source.error(['spec', 'roleGroups'], 'no control-plane host', {
    hint: 'Name at least one host under roleGroups.control-plane (or its alias master)',
    at: 'key',
  })
}

function requireEtcdHosts(config: ClusterConfig, source: ConfigSource): void {
  if (config.etcd.type !== 'kubekey' || config.roleGroups.etcd.length > 0) return
  throw source.error(['spec', 'roleGroups', 'etcd'], 'no etcd host, but etcd.type is kubekey', {
    hint: 'Name at least one host under roleGroups.etcd, or set spec.etcd.type to kubeadm (stacked etcd) or external',
    at: 'key',
  })
}

function requireExternalEtcdEndpoints(config: ClusterConfig, source: ConfigSource): void {
  if (config.etcd.type !== 'external' || (config.etcd.external?.endpoints.length ?? 0) > 0) return
  const path = config.etcd.external ? ['spec', 'etcd', 'external', 'endpoints'] : ['spec', 'etcd', 'type']
  throw source.error(path, 'etcd.type is external but no etcd endpoints are given', {
    hint: 'List them under spec.etcd.external.endpoints, e.g. https://10.0.0.5:2379',
  })
}

function checkLoadBalancer(config: ClusterConfig, source: ConfigSource): void {
  const { internalLoadbalancer, address } = config.controlPlaneEndpoint
  if (internalLoadbalancer === 'haproxy' && address) {
    throw source.error(['spec', 'controlPlaneEndpoint', 'address'], `address "${address}" is set together with internalLoadbalancer haproxy`, {
      hint: 'Use one: the internal haproxy on every node (address "") or your own load balancer address (KubeKey refuses both)',
    })
  }
  if (internalLoadbalancer === 'kube-vip' && !address) {
    throw source.error(['spec', 'controlPlaneEndpoint', 'address'], 'internalLoadbalancer kube-vip needs a virtual IP in address', {
      hint: 'Set spec.controlPlaneEndpoint.address to a free IP in the hosts\' subnet',
    })
  }
}
