/**
 * kubeadm.k8s.io/v1beta4 (kubeadm 1.31+), from v1beta4/types.go: extra arguments became lists of
 * {name, value} (duplicates allowed), components gained extraEnvs, timeouts moved from
 * apiServer.timeoutForControlPlane to {Init,Join}Configuration.timeouts, and ClusterConfiguration gained
 * encryptionAlgorithm, certificate validity periods and dns/proxy `disabled`.
 */
import { z } from 'zod'
import {
  apiEndpoint, bootstrapToken, bootstrapTokenDiscovery, certificateKey, duration, externalEtcd, fileDiscovery, hostPathMount,
  imageMeta, networking, patches, pullPolicy, str, taint,
} from './common.js'

const apiVersion = z.literal('kubeadm.k8s.io/v1beta4')
const arg = z.strictObject({ name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/), value: str })
const extraArgs = z.array(arg)
const envVar = z.looseObject({ name: str, value: str.optional(), valueFrom: z.looseObject({}).optional() })

const nodeRegistration = z.strictObject({
  name: str.optional(),
  criSocket: str.optional(),
  taints: z.array(taint).nullable().optional(),
  kubeletExtraArgs: extraArgs.optional(),
  ignorePreflightErrors: z.array(str).optional(),
  imagePullPolicy: pullPolicy.optional(),
  imagePullSerial: z.boolean().optional(),
})

const controlPlaneComponent = {
  extraArgs: extraArgs.optional(),
  extraVolumes: z.array(hostPathMount).optional(),
  extraEnvs: z.array(envVar).optional(),
}

const localEtcd = z.strictObject({
  ...imageMeta,
  dataDir: str.optional(),
  extraArgs: extraArgs.optional(),
  extraEnvs: z.array(envVar).optional(),
  serverCertSANs: z.array(str).optional(),
  peerCertSANs: z.array(str).optional(),
})

const timeouts = z.strictObject({
  controlPlaneComponentHealthCheck: duration.optional(),
  kubeletHealthCheck: duration.optional(),
  kubernetesAPICall: duration.optional(),
  etcdAPICall: duration.optional(),
  tlsBootstrap: duration.optional(),
  discovery: duration.optional(),
  upgradeManifests: duration.optional(),
})

export const initConfiguration = z.strictObject({
  apiVersion,
  kind: z.literal('InitConfiguration'),
  bootstrapTokens: z.array(bootstrapToken).optional(),
  dryRun: z.boolean().optional(),
  nodeRegistration: nodeRegistration.optional(),
  localAPIEndpoint: apiEndpoint.optional(),
  certificateKey: certificateKey.optional(),
  skipPhases: z.array(str).optional(),
  patches: patches.optional(),
  timeouts: timeouts.optional(),
})

export const clusterConfiguration = z.strictObject({
  apiVersion,
  kind: z.literal('ClusterConfiguration'),
  etcd: z.strictObject({ local: localEtcd.optional(), external: externalEtcd.optional() })
    .refine((etcd) => !(etcd.local && etcd.external), 'etcd.local and etcd.external are mutually exclusive').optional(),
  networking: networking.optional(),
  kubernetesVersion: str.optional(),
  controlPlaneEndpoint: str.optional(),
  apiServer: z.strictObject({ ...controlPlaneComponent, certSANs: z.array(str).optional() }).optional(),
  controllerManager: z.strictObject(controlPlaneComponent).optional(),
  scheduler: z.strictObject(controlPlaneComponent).optional(),
  dns: z.strictObject({ ...imageMeta, disabled: z.boolean().optional() }).optional(),
  proxy: z.strictObject({ disabled: z.boolean().optional() }).optional(),
  certificatesDir: str.optional(),
  imageRepository: str.optional(),
  featureGates: z.record(str, z.boolean()).optional(),
  clusterName: str.optional(),
  encryptionAlgorithm: z.enum(['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096']).optional(),
  certificateValidityPeriod: duration.optional(),
  caCertificateValidityPeriod: duration.optional(),
})

export const joinConfiguration = z.strictObject({
  apiVersion,
  kind: z.literal('JoinConfiguration'),
  dryRun: z.boolean().optional(),
  nodeRegistration: nodeRegistration.optional(),
  caCertPath: str.optional(),
  discovery: z.strictObject({
    bootstrapToken: bootstrapTokenDiscovery.optional(),
    file: fileDiscovery.optional(),
    tlsBootstrapToken: str.optional(),
  }).refine((d) => Boolean(d.bootstrapToken) !== Boolean(d.file), 'discovery needs exactly one of bootstrapToken and file'),
  controlPlane: z.strictObject({ localAPIEndpoint: apiEndpoint.optional(), certificateKey: certificateKey.optional() }).optional(),
  skipPhases: z.array(str).optional(),
  patches: patches.optional(),
  timeouts: timeouts.optional(),
})
