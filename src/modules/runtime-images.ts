import type { ClusterConfig } from '../config/types.js'
import { kubernetesMinor } from '../artifacts/catalog.js'
import { UserError } from '../errors.js'

/**
 * The pause image tag kubeadm uses (its constants.PauseVersion) per Kubernetes minor. The CRI's sandbox image
 * must be the same one, or the kubelet/kubeadm warn and pull a second pause image.
 */
const PAUSE_TAGS: ReadonlyArray<readonly [minor: number, tag: string]> = [
  [19, '3.2'], [20, '3.2'], [21, '3.4.1'], [22, '3.5'], [23, '3.6'], [24, '3.7'], [25, '3.8'],
  [26, '3.9'], [27, '3.9'], [28, '3.9'], [29, '3.9'], [30, '3.9'],
  [31, '3.10'], [32, '3.10'], [33, '3.10'], [34, '3.10.1'], [35, '3.10.1'],
]

/** The pause tag for a Kubernetes version; versions past the table take its newest tag, older ones its oldest. */
export function pauseTag(kubernetesVersion: string): string {
  const minor = Number(kubernetesMinor(kubernetesVersion).split('.')[1])
  const exact = PAUSE_TAGS.find(([m]) => m === minor)
  if (exact) return exact[1]
  return minor < PAUSE_TAGS[0][0] ? PAUSE_TAGS[0][1] : PAUSE_TAGS[PAUSE_TAGS.length - 1][1]
}

// KubeKey pulls its Kubernetes images from the `kubesphere` namespace (Docker Hub, or the private registry).
const KUBEKEY_IMAGE_NAMESPACE = 'kubesphere'

/**
 * The sandbox (pause) image, named the way KubeKey names it: `kubesphere/pause:<tag>` on Docker Hub, or
 * `<privateRegistry>/<namespaceOverride | kubesphere>/pause:<tag>`.
 */
export function pauseImage(config: ClusterConfig): string {
  const { privateRegistry, namespaceOverride } = config.registry
  const tag = pauseTag(config.kubernetes.version)
  const repository = privateRegistry
    ? `${privateRegistry.replace(/^https?:\/\//, '').replace(/\/+$/, '')}/${namespaceOverride || KUBEKEY_IMAGE_NAMESPACE}`
    : KUBEKEY_IMAGE_NAMESPACE
  const image = `${repository}/pause:${tag}`
  // It lands in TOML, JSON and a systemd ExecStart line, where $, % and spaces have meanings of their own.
  if (!/^[A-Za-z0-9][A-Za-z0-9._\-/:@[\]]*$/.test(image)) {
    throw new UserError(`"${image}" is not a valid image reference`, { file: config.file, field: 'spec.registry.privateRegistry' },
      'Use a registry host[:port] and, in namespaceOverride, a plain repository path')
  }
  return image
}
