/** kubeadm.k8s.io/v1beta3 (kubeadm 1.22–1.30; still read by 1.31+), from v1beta3/types.go. */
import { z } from 'zod'
import {
  apiEndpoint, bootstrapToken, bootstrapTokenDiscovery, certificateKey, duration, externalEtcd, fileDiscovery, hostPathMount,
  imageMeta, networking, patches, pullPolicy, str, taint,
} from './common.js'

const apiVersion = z.literal('kubeadm.k8s.io/v1beta3')
/** In v1beta3 extra arguments are a map of flag name (no dashes) to value. */
const extraArgs = z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/), str)

const nodeRegistration = z.strictObject({
  name: str.optional(),
  criSocket: str.optional(),
  taints: z.array(taint).nullable().optional(),
  kubeletExtraArgs: extraArgs.optional(),
  ignorePreflightErrors: z.array(str).optional(),
  imagePullPolicy: pullPolicy.optional(),
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
  skipPhases: z.array(str).optional(),
  patches: patches.optional(),
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
  dns: z.strictObject(imageMeta).optional(),
  certificatesDir: str.optional(),
  imageRepository: str.optional(),
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
  skipPhases: z.array(str).optional(),
  patches: patches.optional(),
})
