import type { Arch, ClusterConfig, Host, Role } from '../config/types.js'
import type { ChartDigest } from '../artifacts/published-sha256.js'
import type { ArtifactName, ArtifactNeed, Catalog, ChartIndex, PlannedArtifact } from '../artifacts/types.js'
import type { KubeadmImages } from '../modules/runtime-images.js'

export const CREATE_MODULES = [
  'precheck', 'configure-os', 'sync-binaries', 'containerd', 'docker', 'cri-dockerd', 'etcd', 'kubeadm-init',
  'join-control-plane', 'join-workers', 'load-balancer', 'network', 'addons', 'kubeconfig', 'smoke-test',
] as const
export const DELETE_MODULES = ['precheck', 'reset', 'cleanup'] as const
export type ModuleId = (typeof CREATE_MODULES)[number] | (typeof DELETE_MODULES)[number]
export type PipelineName = 'create' | 'delete'

/** What a module's plan-time functions read: the config and the versions chosen for it. */
export interface PlanContext {
  config: ClusterConfig
  pipeline: PipelineName
  /** Version of every artifact name: Kubernetes binaries follow kubernetes.version. */
  versions: Record<ArtifactName, string>
  /** The config field that chose each artifact's version, for error messages. */
  versionFields: Record<ArtifactName, string>
  hostsWithRole(...roles: Role[]): Host[]
  /** The first control-plane host (KubeKey's "init master"). */
  firstControlPlane: Host
  /** The images kubeadm pulls and the sandbox image the runtimes use (the plan's `images`). */
  images: KubeadmImages
}

export interface PlannedModule {
  id: ModuleId
  skip: boolean
  reason?: string
  hosts: string[]
  needs: ArtifactNeed[]
}

export interface PlanHost {
  name: string
  address: string
  arch: Arch
  roles: Role[]
}

/** The plan of design.md §3: the one source of truth for what runs. */
export interface Plan {
  pipeline: PipelineName
  kubernetesVersion: string
  containerManager: string
  hosts: PlanHost[]
  modules: PlannedModule[]
  artifacts: PlannedArtifact[]
  /** The images kubeadm pulls and the sandbox image the container runtimes use: one decision for all three. */
  images: KubeadmImages
}

export interface PlanOptions {
  pipeline?: PipelineName
  catalog?: Catalog
  /** Modules the user skips by flag (`--skip`). */
  skipModules?: string[]
  /** Run up to and including this module (`--until`). */
  until?: string
  /**
   * Looks up a sum the catalog lacks (dl.k8s.io publishes `<file>.sha256`); returns undefined when none
   * can be had. Omitted: unknown versions are plan errors.
   */
  fetchSha256?: (artifact: { url: string }) => Promise<string | undefined>
  /** Looks up a chart's sha256 in its publisher's repository index; undefined when none can be had. */
  fetchChartDigest?: (index: ChartIndex, version: string) => Promise<ChartDigest>
  /**
   * For a preview (`plan`): a chart whose index cannot be reached now is planned without its sum, with a
   * notice; deploy and fetch read it then. A version the index does not list is an error either way.
   */
  deferUnreachableChartSums?: boolean
}

export interface PlanResult {
  plan: Plan
  notices: string[]
}
