import { kubernetesMinor } from '../artifacts/catalog.js'
import { sh } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
import { LOCAL_HAPROXY, writeEtcHosts } from './configure-os.js'
import { HAPROXY_CFG, HAPROXY_MANIFEST, renderHaproxyConfig, renderHaproxyManifest } from './lb-haproxy.js'
import { KUBE_VIP_MANIFEST, kubeVipKubeconfig, renderKubeVipManifest, virtualAddress } from './lb-kube-vip.js'
import { defineModule } from './module.js'
import { putFile } from './steps.js'

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
})

async function writeHaproxy(t: TaskContext): Promise<void> {
  const cfg = renderHaproxyConfig(t.config)
  // The config first: the manifest's checksum names it, and the kubelet may start the pod at once.
  const cfgChanged = await putFile(t, HAPROXY_CFG, cfg)
  const manifestChanged = await putFile(t, HAPROXY_MANIFEST, renderHaproxyManifest(t.config, cfg), 0o600)
  if (cfgChanged || manifestChanged) t.changed()
}

export async function writeKubeVip(t: TaskContext): Promise<void> {
  const iface = await interfaceOf(t, t.host.internalAddress)
  const minor = Number(kubernetesMinor(t.config.kubernetes.version).split('.')[1])
  const first = t.host.name === t.config.roleGroups['control-plane'][0]
  const manifest = renderKubeVipManifest(t.config, iface, kubeVipKubeconfig(minor, first))
  if (await putFile(t, KUBE_VIP_MANIFEST, manifest, 0o600)) t.changed()
}

/** The interface that holds `address` on this host: the VIP goes on the same link. */
async function interfaceOf(t: TaskContext, address: string): Promise<string> {
  virtualAddress(t.config)
  const found = await t.exec(sh`ip -o addr show to ${address}`)
  const iface = found.stdout.trim().split('\n')[0]?.split(/\s+/)[1]?.replace(/@.*$/, '')
  if (!iface) throw new Error(`no interface on ${t.host.name} holds its internalAddress ${address}, so kube-vip has no link to announce the VIP on`)
  return iface
}
