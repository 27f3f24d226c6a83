import type { ClusterConfig } from '../config/types.js'
import { kubernetesMinor } from '../artifacts/catalog.js'
import { UserError } from '../errors.js'
import { atLeast } from '../plan/version.js'

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

/**
 * kubeadm's default imageRepository: registry.k8s.io from 1.25.0, and in the patches the switch was backported
 * to (kubernetes#113393 → 1.23.15, #113395 → 1.24.9); k8s.gcr.io before.
 */
export function kubeadmDefaultRepository(kubernetesVersion: string): string {
  const v = kubernetesVersion
  const moved = atLeast(v, 'v1.24.9') || (atLeast(v, 'v1.23.15') && !atLeast(v, 'v1.24.0'))
  return moved ? 'registry.k8s.io' : 'k8s.gcr.io'
}

// KubeKey pulls its Kubernetes images from the `kubesphere` namespace of the private registry.
const KUBEKEY_IMAGE_NAMESPACE = 'kubesphere'

/**
 * The CoreDNS tag KubeKey mirrors (cmd/kk/pkg/images GetImage): Docker Hub's coredns/coredns tags have no "v".
 * Below 1.21 KubeKey takes 1.8.0 for any runtime but docker.
 */
function kubekeyCorednsTag(config: ClusterConfig): string {
  const v = config.kubernetes.version
  if (atLeast(v, 'v1.25.0')) return '1.9.3'
  if (atLeast(v, 'v1.23.0')) return '1.8.6'
  if (atLeast(v, 'v1.21.0') || config.kubernetes.containerManager !== 'docker') return '1.8.0'
  return '1.6.9'
}

export interface ImageLocation {
  imageRepository: string
  imageTag: string
}

/** Where kubeadm and the container runtimes take their images from: decided once, in the plan. */
export interface KubeadmImages {
  /** ClusterConfiguration.imageRepository; absent: kubeadm's own default. */
  repository?: string
  /** The sandbox image of containerd and cri-dockerd: the very pause kubeadm pulls. */
  sandbox: string
  /** ClusterConfiguration.dns, for a private registry (KubeKey's coredns/coredns layout). */
  dns?: ImageLocation
  /** ClusterConfiguration.etcd.local image, for stacked etcd in a private registry. */
  etcd?: ImageLocation
}

/**
 * Without a private registry, kubeadm's own images (its default repository, its pause); with one, KubeKey's layout
 * `<registry>/<namespaceOverride | kubesphere>/<image>`, CoreDNS under `<registry>/coredns` (or the override).
 * `etcdVersion` is the etcd the plan chose (KubeKey tags its etcd image `v<version>`).
 */
export function kubeadmImages(config: ClusterConfig, etcdVersion: string): KubeadmImages {
  const { privateRegistry, namespaceOverride } = config.registry
  const tag = pauseTag(config.kubernetes.version)
  if (!privateRegistry) return { sandbox: checked(config, `${kubeadmDefaultRepository(config.kubernetes.version)}/pause:${tag}`) }
  const registry = privateRegistry.replace(/^https?:\/\//, '').replace(/\/+$/, '')
  const repository = `${registry}/${namespaceOverride || KUBEKEY_IMAGE_NAMESPACE}`
  const images: KubeadmImages = {
    repository,
    sandbox: checked(config, `${repository}/pause:${tag}`),
    dns: { imageRepository: namespaceOverride ? repository : `${registry}/coredns`, imageTag: kubekeyCorednsTag(config) },
  }
  if (config.etcd.type === 'kubeadm') images.etcd = { imageRepository: repository, imageTag: `v${etcdVersion.replace(/^v/, '')}` }
  return images
}

/** The sandbox image (see kubeadmImages). */
export function pauseImage(config: ClusterConfig): string {
  return kubeadmImages(config, '').sandbox
}

// It lands in TOML, JSON and a systemd ExecStart line, where $, % and spaces have meanings of their own.
function checked(config: ClusterConfig, image: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._\-/:@[\]]*$/.test(image)) {
    throw new UserError(`"${image}" is not a valid image reference`, { file: config.file, field: 'spec.registry.privateRegistry' },
      'Use a registry host[:port] and, in namespaceOverride, a plain repository path')
  }
  return image
}
