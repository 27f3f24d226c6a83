/**
 * Pieces shared by the kubeadm API schemas, transcribed from the Go types (json tags) of
 * kubernetes/kubernetes cmd/kubeadm/app/apis/kubeadm/<version>/types.go, k8s.io/api/core/v1 (Taint,
 * PullPolicy, HostPathType) and cmd/kubeadm/app/apis/bootstraptoken/v1 (BootstrapToken).
 * Objects are strict: a field kubeadm does not know is an error here, as `kubeadm init --config` reports it
 * (strict decoding since 1.23). A field without `omitempty` that kubeadm needs to act is required.
 */
import { z } from 'zod'

export const str = z.string()
export const int32 = z.number().int().min(-(2 ** 31)).max(2 ** 31 - 1)
/** metav1.Duration: Go duration text, e.g. "4m0s", "24h". */
export const duration = z.string().regex(/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/)

export const pullPolicy = z.enum(['Always', 'IfNotPresent', 'Never'])
export const hostPathType = z.enum(['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'])

export const taint = z.strictObject({
  key: str,
  value: str.optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
  timeAdded: str.optional(),
})

export const bootstrapToken = z.strictObject({
  token: z.string().regex(/^[a-z0-9]{6}\.[a-z0-9]{16}$/),
  description: str.optional(),
  ttl: duration.optional(),
  expires: str.optional(),
  usages: z.array(str).optional(),
  groups: z.array(str).optional(),
})

export const apiEndpoint = z.strictObject({
  advertiseAddress: str.optional(),
  bindPort: int32.optional(),
})

export const imageMeta = {
  imageRepository: str.optional(),
  imageTag: str.optional(),
}

export const hostPathMount = z.strictObject({
  name: str,
  hostPath: str,
  mountPath: str,
  readOnly: z.boolean().optional(),
  pathType: hostPathType.optional(),
})

export const networking = z.strictObject({
  serviceSubnet: str.optional(),
  podSubnet: str.optional(),
  dnsDomain: str.optional(),
})

export const externalEtcd = z.strictObject({
  endpoints: z.array(str).min(1),
  caFile: str,
  certFile: str,
  keyFile: str,
})

export const patches = z.strictObject({ directory: str.optional() })

export const bootstrapTokenDiscovery = z.strictObject({
  token: str,
  apiServerEndpoint: str.optional(),
  caCertHashes: z.array(z.string().regex(/^sha256:[0-9a-f]{64}$/)).optional(),
  unsafeSkipCAVerification: z.boolean().optional(),
})

export const fileDiscovery = z.strictObject({ kubeConfigPath: str })

/** The certificate key: hex of a 32-byte AES key. */
export const certificateKey = z.string().regex(/^[0-9a-f]{64}$/)

/**
 * Not kubeadm types, but read by `kubeadm init --config` from the same file: only their identity and the
 * fields kk-action sets are checked (the rest is the user's pass-through).
 */
export const kubeletConfiguration = z.looseObject({
  apiVersion: z.literal('kubelet.config.k8s.io/v1beta1'),
  kind: z.literal('KubeletConfiguration'),
  cgroupDriver: z.enum(['systemd', 'cgroupfs']).optional(),
  clusterDomain: str.optional(),
  maxPods: int32.optional(),
  podPidsLimit: z.number().int().optional(),
  rotateCertificates: z.boolean().optional(),
  containerLogMaxSize: str.optional(),
  containerLogMaxFiles: int32.optional(),
  featureGates: z.record(str, z.boolean()).optional(),
})

export const kubeProxyConfiguration = z.looseObject({
  apiVersion: z.literal('kubeproxy.config.k8s.io/v1alpha1'),
  kind: z.literal('KubeProxyConfiguration'),
  mode: z.enum(['', 'iptables', 'ipvs', 'nftables', 'kernelspace']).optional(),
  clusterCIDR: str.optional(),
  iptables: z.looseObject({ masqueradeAll: z.boolean().optional() }).optional(),
  featureGates: z.record(str, z.boolean()).optional(),
})
