import { kubernetesMinor } from '../artifacts/catalog.js'
import type { ClusterConfig, Host } from '../config/types.js'
import { sh } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
import { LOCAL_HAPROXY, writeEtcHosts } from './configure-os.js'
import { HAPROXY_CFG, HAPROXY_MANIFEST, renderHaproxyConfig, renderHaproxyManifest } from './lb-haproxy.js'
import { INTERFACE_PLACEHOLDER, KUBE_VIP_MANIFEST, kubeVipKubeconfig, kubeVipKubeconfigOnHost, renderKubeVipManifest, virtualAddress } from './lb-kube-vip.js'
import { defineModule, type NodeFile } from './module.js'
import { putNodeFile } from './steps.js'

/**
 * After the joins, as KubeKey orders it: a host joins against an apiserver that runs (configure-os points the
 * domain at one), and below 1.23 `kubeadm join` refuses a non-empty manifests directory. Then haproxy on
 * the workers in front of all apiservers, the domain moved to it; or kube-vip on every control plane (the
 * first one got it before `kubeadm init`, see kubeadm-init).
 */
export const loadBalancer = defineModule({
  id: 'load-balancer',
  hosts: (ctx) => {
    const controlPlanes = ctx.hostsWithRole('control-plane')
    if (ctx.config.controlPlaneEndpoint.internalLoadbalancer === 'kube-vip') return controlPlanes
    return ctx.hostsWithRole('worker').filter((host) => !controlPlanes.includes(host))
  },
  skip: ({ config }) => {
    const kind = config.controlPlaneEndpoint.internalLoadbalancer
    return kind ? undefined : 'controlPlaneEndpoint.internalLoadbalancer is not set'
  },
  needs: () => [],
  tasks: ({ config }) => config.controlPlaneEndpoint.internalLoadbalancer === 'kube-vip'
    ? [{ name: 'kube-vip static pod', retries: 2, timeoutMs: 2 * 60_000, run: writeKubeVip }]
    : [
        { name: 'haproxy static pod', retries: 2, timeoutMs: 2 * 60_000, run: writeHaproxy },
        // kubelet.conf and kube-proxy name the domain, so they follow it to haproxy.
        { name: 'control-plane domain to the local haproxy', retries: 2, run: (t) => writeEtcHosts(t, LOCAL_HAPROXY) },
      ],
  files: ({ config }, host) => config.controlPlaneEndpoint.internalLoadbalancer === 'kube-vip'
    ? [{ ...kubeVipFile(config, INTERFACE_PLACEHOLDER, kubeVipKubeconfigFor(config, host)), note: 'vip_interface is the interface that holds the host\'s internalAddress' }]
    : haproxyFiles(config),
})

/** haproxy.cfg, then the static pod whose checksum names it. */
export function haproxyFiles(config: ClusterConfig): [NodeFile, NodeFile] {
  const cfg = renderHaproxyConfig(config)
  return [
    { path: HAPROXY_CFG, mode: 0o644, content: cfg },
    { path: HAPROXY_MANIFEST, mode: 0o600, content: renderHaproxyManifest(config, cfg) },
  ]
}

export function kubeVipFile(config: ClusterConfig, iface: string, kubeconfig: string): NodeFile {
  return { path: KUBE_VIP_MANIFEST, mode: 0o600, content: renderKubeVipManifest(config, iface, kubeconfig) }
}

function kubeVipKubeconfigFor(config: ClusterConfig, host: Host): string {
  const { minor, first } = kubeVipRole(config, host)
  return kubeVipKubeconfig(minor, first)
}

function kubeVipRole(config: ClusterConfig, host: Host): { minor: number; first: boolean } {
  return { minor: Number(kubernetesMinor(config.kubernetes.version).split('.')[1]), first: host.name === config.roleGroups['control-plane'][0] }
}

async function writeHaproxy(t: TaskContext): Promise<void> {
  const [cfg, manifest] = haproxyFiles(t.config)
  // The config first: the manifest's checksum names it, and the kubelet may start the pod at once.
  const cfgChanged = await putNodeFile(t, cfg)
  const manifestChanged = await putNodeFile(t, manifest)
  if (cfgChanged || manifestChanged) t.changed()
}

export async function writeKubeVip(t: TaskContext): Promise<void> {
  const iface = await interfaceOf(t, t.host.internalAddress)
  const { minor, first } = kubeVipRole(t.config, t.host)
  // A rerun on an initialised first control plane reads admin.conf already (see kubeVipBackToAdminConf).
  if (await putNodeFile(t, kubeVipFile(t.config, iface, await kubeVipKubeconfigOnHost(t, minor, first)))) t.changed()
}

/** The interface that holds `address` on this host: the VIP goes on the same link. */
async function interfaceOf(t: TaskContext, address: string): Promise<string> {
  virtualAddress(t.config)
  const found = await t.exec(sh`ip -o addr show to ${address}`)
  const iface = found.stdout.trim().split('\n')[0]?.split(/\s+/)[1]?.replace(/@.*$/, '')
  if (!iface) throw new Error(`no interface on ${t.host.name} holds its internalAddress ${address}, so kube-vip has no link to announce the VIP on`)
  return iface
}
