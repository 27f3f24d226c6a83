import type { ClusterConfig } from '../config/types.js'
import { UserError } from '../errors.js'
import { kubekeyImage } from './lb-images.js'
import { placeholder } from './module.js'

export const KUBE_VIP_MANIFEST = '/etc/kubernetes/manifests/kube-vip.yaml'
// KubeKey v3.1's kube-vip image.
const KUBE_VIP_IMAGE = { namespace: 'plndr', repo: 'kube-vip', tag: 'v0.7.2' }

/** The VIP kube-vip announces: controlPlaneEndpoint.address, which must be an IPv4 address. */
export function virtualAddress(config: ClusterConfig): string {
  const address = config.controlPlaneEndpoint.address
  if (!/^(\d{1,3})(\.\d{1,3}){3}$/.test(address ?? '')) {
    throw new UserError(`kube-vip needs an IPv4 virtual address, and controlPlaneEndpoint.address is "${address ?? ''}"`,
      { file: config.file, field: 'spec.controlPlaneEndpoint.address' },
      'Set controlPlaneEndpoint.address to a free address in the control planes\' subnet')
  }
  return address
}

/**
 * The kubeconfig kube-vip reads. From Kubernetes 1.29 kubeadm init writes an admin.conf whose rights are only
 * granted once init has finished, yet the VIP must answer during init: the first control plane uses
 * super-admin.conf (as kube-vip documents); the others join later, when admin.conf works.
 */
export function kubeVipKubeconfig(kubernetesMinor: number, firstControlPlane: boolean): string {
  return firstControlPlane && kubernetesMinor >= 29 ? '/etc/kubernetes/super-admin.conf' : '/etc/kubernetes/admin.conf'
}

/** The interface as render shows it: only the node can say which link holds its address. */
export const INTERFACE_PLACEHOLDER = placeholder('the interface that holds internalAddress, looked up on the node')

/**
 * kube-vip as a static pod in ARP mode: leader election among the control planes decides which one
 * answers ARP for the VIP on `iface`.
 */
export function renderKubeVipManifest(config: ClusterConfig, iface: string, kubeconfigOnHost: string): string {
  if (iface !== INTERFACE_PLACEHOLDER && !/^[A-Za-z0-9_.:@-]{1,15}$/.test(iface)) throw new Error(`"${iface}" is not a network interface name`)
  const image = kubekeyImage(config, KUBE_VIP_IMAGE.namespace, KUBE_VIP_IMAGE.repo, KUBE_VIP_IMAGE.tag)
  const env: Array<[string, string]> = [
    ['vip_arp', 'true'],
    ['port', String(config.controlPlaneEndpoint.port)],
    ['vip_interface', iface],
    ['vip_cidr', '32'],
    ['cp_enable', 'true'],
    ['cp_namespace', 'kube-system'],
    ['vip_ddns', 'false'],
    ['svc_enable', 'false'],
    ['vip_leaderelection', 'true'],
    ['vip_leasename', 'plndr-cp-lock'],
    ['vip_leaseduration', '5'],
    ['vip_renewdeadline', '3'],
    ['vip_retryperiod', '1'],
    ['address', virtualAddress(config)],
    ['prometheus_server', ':2112'],
  ]
  const envYaml = env.map(([name, value]) => `    - name: ${name}\n      value: "${value}"`).join('\n')
  return `apiVersion: v1
kind: Pod
metadata:
  name: kube-vip
  namespace: kube-system
spec:
  containers:
  - name: kube-vip
    image: ${image}
    imagePullPolicy: IfNotPresent
    args:
    - manager
    env:
${envYaml}
    securityContext:
      capabilities:
        add:
        - NET_ADMIN
        - NET_RAW
    volumeMounts:
    - mountPath: /etc/kubernetes/admin.conf
      name: kubeconfig
  hostAliases:
  - hostnames:
    - kubernetes
    ip: 127.0.0.1
  hostNetwork: true
  volumes:
  - name: kubeconfig
    hostPath:
      path: ${kubeconfigOnHost}
`
}
