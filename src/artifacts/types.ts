import type { Arch } from '../config/types.js'

/** Every artifact a module may declare (design.md §3). */
export const ARTIFACT_NAMES = [
  'kubeadm', 'kubelet', 'kubectl', 'containerd', 'runc', 'crictl', 'docker', 'cri-dockerd', 'etcd',
  'cni-plugins', 'calicoctl', 'helm', 'calico', 'flannel', 'cilium',
] as const
export type ArtifactName = (typeof ARTIFACT_NAMES)[number]

/** One catalog entry: where an artifact comes from and the sums of its known versions. */
export interface ArtifactSpec {
  /** Upstream URL; `{version}` (as stored, e.g. v1.30.1 or 1.7.13), `{arch}` (amd64), `{uname}` (x86_64). */
  url: string
  /**
   * `binary`: the file is the program; `tar.gz`: an archive whose `members` are installed; `chart`: a packaged
   * Helm chart, installed as it is.
   */
  format: 'binary' | 'tar.gz' | 'chart'
  /** For archives: the paths inside the archive that get installed (templated like `url`). */
  members?: string[]
  /** version → arch → sha256 (lowercase hex) of the file at `url`. */
  versions: Record<string, Partial<Record<Arch, string>>>
  /**
   * For charts: the publisher's Helm repository index, whose entry for `chart` at a version carries the
   * chart's sha256 (`digest`). Used for versions `versions` lacks, as dl.k8s.io's `.sha256` files are.
   */
  index?: ChartIndex
}

export interface ChartIndex {
  url: string
  chart: string
}

export interface Catalog {
  /** Where the data came from (file names and what was taken from each). */
  sources: string[]
  artifacts: Record<ArtifactName, ArtifactSpec>
  /** Kubernetes minor ("1.30") → default version of every other component. */
  defaults: Record<string, Partial<Record<ArtifactName, string>>>
  /** Keys (artifactKey) of the sums a user's checksums file gave, so errors can say whose sum it was. */
  userSums?: ReadonlySet<string>
}

/** What a module needs: one artifact for one arch. */
export interface ArtifactNeed {
  name: ArtifactName
  version: string
  arch: Arch
}

/** A need the plan has matched with a URL and a sum. */
export interface PlannedArtifact extends ArtifactNeed {
  url: string
  /** The URL's path, which is also the layout of a `mirror` and of an `offline-dir`. */
  path: string
  /** Basename of the downloaded file. */
  file: string
  sha256: string
  /** Where the sum came from. */
  sha256Source: 'catalog' | 'checksums-file' | 'upstream' | 'chart-index'
  format: ArtifactSpec['format']
  members?: string[]
}

export function artifactKey(need: ArtifactNeed): string {
  return `${need.name}@${need.version}/${need.arch}`
}
