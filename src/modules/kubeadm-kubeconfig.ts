/** The runner's copy of admin.conf: which server it points at, and which of its values are secrets. */
import { parseDocument } from 'yaml'
import type { ClusterConfig } from '../config/types.js'
import { APISERVER_BIND_PORT } from './kubeadm-config.js'

/**
 * An apiserver address the runner reaches: controlPlaneEndpoint.address (an external load balancer or a
 * kube-vip VIP) when set, else the first control plane's `address` (the one kk-action connects to). The
 * control-plane domain is not used: it resolves through the nodes' /etc/hosts, and with haproxy to 127.0.0.1.
 */
export function runnerServer(config: ClusterConfig): string {
  const endpoint = config.controlPlaneEndpoint
  if (endpoint.address && endpoint.internalLoadbalancer !== 'haproxy') return `https://${urlHost(endpoint.address)}:${endpoint.port}`
  const first = config.hosts.find((host) => host.name === config.roleGroups['control-plane'][0])!
  return `https://${urlHost(first.address)}:${APISERVER_BIND_PORT}`
}

function urlHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address
}

/** The kubeconfig with every cluster's `server` replaced; everything else as kubeadm wrote it. */
export function withServer(kubeconfig: string, server: string): string {
  const document = parseDocument(kubeconfig)
  const clusters = document.get('clusters')
  const items = (clusters as { items?: unknown[] } | undefined)?.items ?? []
  if (!items.length) throw new Error('admin.conf lists no cluster')
  for (let i = 0; i < items.length; i++) document.setIn(['clusters', i, 'cluster', 'server'], server)
  return document.toString({ lineWidth: 0 })
}

const SECRET_USER_FIELDS = ['client-key-data', 'token', 'password']

/** Client keys (as written and decoded), tokens, passwords of every user: to be masked wherever they appear. */
export function kubeconfigSecrets(kubeconfig: string): string[] {
  const parsed = parseDocument(kubeconfig).toJS() as { users?: Array<{ user?: Record<string, unknown> }> } | null
  const secrets: string[] = []
  for (const { user } of parsed?.users ?? []) {
    for (const field of SECRET_USER_FIELDS) {
      const value = user?.[field]
      if (typeof value !== 'string' || !value) continue
      secrets.push(value)
      if (field === 'client-key-data') secrets.push(Buffer.from(value, 'base64').toString('utf8'))
    }
  }
  return secrets
}
