/** Validates a multi-document kubeadm config file against the schema of the kubeadm API version it names. */
import { parseAllDocuments } from 'yaml'
import type { ZodType } from 'zod'
import { kubeletConfiguration, kubeProxyConfiguration } from './common.js'
import * as v1beta2 from './v1beta2.js'
import * as v1beta3 from './v1beta3.js'
import * as v1beta4 from './v1beta4.js'

const KUBEADM_SCHEMAS: Record<string, Record<string, ZodType>> = {
  'kubeadm.k8s.io/v1beta2': {
    InitConfiguration: v1beta2.initConfiguration, ClusterConfiguration: v1beta2.clusterConfiguration, JoinConfiguration: v1beta2.joinConfiguration,
  },
  'kubeadm.k8s.io/v1beta3': {
    InitConfiguration: v1beta3.initConfiguration, ClusterConfiguration: v1beta3.clusterConfiguration, JoinConfiguration: v1beta3.joinConfiguration,
  },
  'kubeadm.k8s.io/v1beta4': {
    InitConfiguration: v1beta4.initConfiguration, ClusterConfiguration: v1beta4.clusterConfiguration, JoinConfiguration: v1beta4.joinConfiguration,
  },
}

export function schemaFor(apiVersion: string, kind: string): ZodType | undefined {
  if (apiVersion === 'kubelet.config.k8s.io/v1beta1' && kind === 'KubeletConfiguration') return kubeletConfiguration
  if (apiVersion === 'kubeproxy.config.k8s.io/v1alpha1' && kind === 'KubeProxyConfiguration') return kubeProxyConfiguration
  return KUBEADM_SCHEMAS[apiVersion]?.[kind]
}

/** Problems per document (`Kind: path: message`); empty when every document is valid for its version. */
export function validateKubeadmFile(text: string): string[] {
  const problems: string[] = []
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length) {
      problems.push(`YAML: ${document.errors[0].message}`)
      continue
    }
    const object = document.toJS() as { apiVersion?: string; kind?: string } | null
    if (!object) continue
    const schema = schemaFor(object.apiVersion ?? '', object.kind ?? '')
    if (!schema) {
      problems.push(`no schema for ${object.apiVersion} ${object.kind}`)
      continue
    }
    const result = schema.safeParse(object)
    if (!result.success) {
      for (const issue of result.error.issues) problems.push(`${object.kind}: ${issue.path.join('.') || '(root)'}: ${issue.message}`)
    }
  }
  return problems
}
