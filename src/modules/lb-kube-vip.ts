import type { ClusterConfig } from '../config/types.js'
import { UserError } from '../errors.js'
import { sh } from '../nodes/quote.js'
import type { TaskContext } from '../pipeline/types.js'
import { kubekeyImage } from './lb-images.js'
import { placeholder } from './module.js'
import { putFile } from './steps.js'
import { ADMIN_KUBECTL } from './addons-commands.js'

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

const ADMIN_CONF = '/etc/kubernetes/admin.conf'
const SUPER_ADMIN_CONF = '/etc/kubernetes/super-admin.conf'

/**
 * The kubeconfig kube-vip reads. From Kubernetes 1.29 kubeadm init writes an admin.conf whose rights are only
 * granted once init has finished, yet the VIP must answer during init: the first control plane uses
 * super-admin.conf (kube-vip#684) until init is done; the others join later, when admin.conf works.
 */
export function kubeVipKubeconfig(kubernetesMinor: number, firstControlPlane: boolean): string {
  return firstControlPlane && kubernetesMinor >= 29 ? SUPER_ADMIN_CONF : ADMIN_CONF
}

/** Whether kube-vip reads super-admin.conf during this cluster's init (so must be switched back after it). */
export function kubeVipNeedsSuperAdmin(config: ClusterConfig, kubernetesMinor: number): boolean {
  return config.controlPlaneEndpoint.internalLoadbalancer === 'kube-vip' && kubernetesMinor >= 29
}

/**
 * On the host that ran init: kube-vip reads admin.conf again once init has bound it to cluster-admin, so the
 * break-glass super-admin.conf stays unused, as kube-vip's and Cluster API's practice is. The kubelet
 * recreates the pod from the changed manifest. A manifest that already names admin.conf is left alone.
 */
export async function kubeVipBackToAdminConf(t: TaskContext): Promise<void> {
  const current = await t.exec(sh`cat ${KUBE_VIP_MANIFEST}`, { allowFailure: true })
  if (current.code !== 0 || !current.stdout.includes(`path: ${SUPER_ADMIN_CONF}`)) return
  const manifest = current.stdout.replaceAll(`path: ${SUPER_ADMIN_CONF}`, `path: ${ADMIN_CONF}`)
  if (!(await putFile(t, KUBE_VIP_MANIFEST, manifest, 0o600))) return
  t.changed()
  await vipAnswersAgain(t)
}

/** The recreated pod takes the VIP back within seconds; the joins that follow dial it. */
async function vipAnswersAgain(t: TaskContext, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const health = await t.exec(sh`${ADMIN_KUBECTL} --request-timeout=5s get --raw /healthz`, { allowFailure: true, timeoutMs: 20_000 })
    if (health.code === 0) return
    if (Date.now() > deadline) {
      throw new Error(`kube-vip on ${t.host.name} was switched to ${ADMIN_CONF} and the API server has not answered at the VIP for ${timeoutMs / 1000}s: ` +
        `${(health.stderr || health.stdout).trim().split('\n').pop() ?? ''} (look at the kube-vip pod: crictl ps -a --name kube-vip)`)
    }
    await new Promise((resolve) => setTimeout(resolve, 2000))
  }
}

/**
 * The kubeconfig for the manifest the load-balancer module writes now: on a rerun against an initialised
 * first control plane (admin.conf exists), admin.conf, so a rerun does not flip kube-vip back and forth.
 */
export async function kubeVipKubeconfigOnHost(t: TaskContext, kubernetesMinor: number, firstControlPlane: boolean): Promise<string> {
  const wanted = kubeVipKubeconfig(kubernetesMinor, firstControlPlane)
  if (wanted === ADMIN_CONF) return wanted
  const initialised = (await t.exec(sh`test -f ${ADMIN_CONF}`, { allowFailure: true })).code === 0
  return initialised ? ADMIN_CONF : wanted
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
