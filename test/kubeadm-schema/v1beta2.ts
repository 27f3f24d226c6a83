/**
 * kubeadm.k8s.io/v1beta2 (kubeadm 1.15–1.25; the only current API of 1.19–1.21), from v1beta2/types.go. Unlike
 * v1beta3, kubeadm decodes it leniently: an unknown field is dropped (a warning from 1.23), a wrong type is an error.
 * Compared with v1beta3: no skipPhases/patches/imagePullPolicy, `dns.type` and `useHyperKubeImage` still exist,
 * and extra arguments are maps.
 */
import { z } from 'zod'
import {
  apiEndpoint, bootstrapToken, bootstrapTokenDiscovery, certificateKey, duration, externalEtcd, fileDiscovery, hostPathMount,
  imageMeta, networking, str, taint,
} from './common.js'

const apiVersion = z.literal('kubeadm.k8s.io/v1beta2')
const extraArgs = z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/), str)

const nodeRegistration = z.strictObject({
  name: str.optional(),
  criSocket: str.optional(),
  taints: z.array(taint).nullable().optional(),
  kubeletExtraArgs: extraArgs.optional(),
  ignorePreflightErrors: z.array(str).optional(),
})

const controlPlaneComponent = {
  extraArgs: extraArgs.optional(),
  extraVolumes: z.array(hostPathMount).optional(),
}

const localEtcd = z.strictObject({
  ...imageMeta,
  dataDir: str.optional(),
  extraArgs: extraArgs.optional(),
  serverCertSANs: z.array(str).optional(),
  peerCertSANs: z.array(str).optional(),
})

export const initConfiguration = z.strictObject({
  apiVersion,
  kind: z.literal('InitConfiguration'),
  bootstrapTokens: z.array(bootstrapToken).optional(),
  nodeRegistration: nodeRegistration.optional(),
  localAPIEndpoint: apiEndpoint.optional(),
  certificateKey: certificateKey.optional(),
})

export const clusterConfiguration = z.strictObject({
  apiVersion,
  kind: z.literal('ClusterConfiguration'),
  etcd: z.strictObject({ local: localEtcd.optional(), external: externalEtcd.optional() })
    .refine((etcd) => !(etcd.local && etcd.external), 'etcd.local and etcd.external are mutually exclusive').optional(),
  networking: networking.optional(),
  kubernetesVersion: str.optional(),
  controlPlaneEndpoint: str.optional(),
  apiServer: z.strictObject({ ...controlPlaneComponent, certSANs: z.array(str).optional(), timeoutForControlPlane: duration.optional() }).optional(),
  controllerManager: z.strictObject(controlPlaneComponent).optional(),
  scheduler: z.strictObject(controlPlaneComponent).optional(),
  dns: z.strictObject({ type: z.enum(['CoreDNS', 'kube-dns']).optional(), ...imageMeta }).optional(),
  certificatesDir: str.optional(),
  imageRepository: str.optional(),
  useHyperKubeImage: z.boolean().optional(),
  featureGates: z.record(str, z.boolean()).optional(),
  clusterName: str.optional(),
})

export const joinConfiguration = z.strictObject({
  apiVersion,
  kind: z.literal('JoinConfiguration'),
  nodeRegistration: nodeRegistration.optional(),
  caCertPath: str.optional(),
  discovery: z.strictObject({
    bootstrapToken: bootstrapTokenDiscovery.optional(),
    file: fileDiscovery.optional(),
    tlsBootstrapToken: str.optional(),
    timeout: duration.optional(),
  }).refine((d) => Boolean(d.bootstrapToken) !== Boolean(d.file), 'discovery needs exactly one of bootstrapToken and file'),
  controlPlane: z.strictObject({ localAPIEndpoint: apiEndpoint.optional(), certificateKey: certificateKey.optional() }).optional(),
})
