/**
 * Versions that cannot work together, refused at plan time: the etcd kk-action runs for kubeadm (etcd.type kubekey,
 * an external etcd to kubeadm) against kubeadm's minimum, and the container runtime against what the kubelet needs.
 */
import type { ClusterConfig } from '../config/types.js'
import { UserError } from '../errors.js'
import type { ArtifactName } from '../artifacts/types.js'
import { atLeast, parseVersion } from './version.js'

/**
 * kubeadm's MinExternalEtcdVersion (cmd/kubeadm/app/constants): 3.2.18 until 1.27, 3.4.13 from 1.28
 * (kubernetes#118733), 3.5.24 from the patches that raised the supported etcd to 3.5.24 (kubernetes#134779 and
 * its backports) and in every later minor. Below it, `kubeadm init` fails preflight (ExternalEtcdVersion).
 */
export function minExternalEtcd(kubernetesVersion: string): string {
  const [, minor] = parseVersion(kubernetesVersion)
  const raised: Record<number, string> = { 31: 'v1.31.14', 32: 'v1.32.10', 33: 'v1.33.6', 34: 'v1.34.2' }
  if (minor >= 35 || (raised[minor] && atLeast(kubernetesVersion, raised[minor]))) return '3.5.24'
  if (minor >= 28) return '3.4.13'
  return '3.2.18'
}

type Locate = (field: string) => { line: number; column: number } | undefined

export function checkVersionRequirements(
  config: ClusterConfig, versions: Record<ArtifactName, string>, versionFields: Record<ArtifactName, string>, locate?: Locate,
): void {
  const kubernetes = config.kubernetes.version
  const refuse = (name: ArtifactName, problem: string, hint: string): never => {
    const field = versionFields[name]
    const position = locate?.(field.split(' ')[0])
    throw new UserError(problem, { file: config.file, line: position?.line, column: position?.column, field: field.split(' ')[0] }, hint)
  }
  const min = minExternalEtcd(kubernetes)
  if (config.etcd.type === 'kubekey' && versions.etcd && !atLeast(versions.etcd, min)) {
    refuse('etcd', `etcd ${versions.etcd} is below ${min}, the oldest external etcd kubeadm ${kubernetes} accepts (its preflight fails)`,
      `Set spec.componentVersions.etcd to ${min} or later, or leave it out for kk-action's default`)
  }
  // From 1.36 the kubelet takes its cgroup driver from the CRI RuntimeConfig call, which containerd has since 2.0.
  if (config.kubernetes.containerManager === 'containerd' && atLeast(kubernetes, 'v1.36.0') && versions.containerd && !atLeast(versions.containerd, '2.0.0')) {
    refuse('containerd', `containerd ${versions.containerd} cannot run Kubernetes ${kubernetes}: its kubelet needs containerd >= 2.0 (the CRI RuntimeConfig call)`,
      'Set spec.componentVersions.containerd to a 2.x release, or leave it out for kk-action\'s default')
  }
}
