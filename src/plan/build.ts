import type { ClusterConfig, Host, Role } from '../config/types.js'
import { UserError } from '../errors.js'
import { builtinCatalog, componentDefaults, knownSha256, plannedArtifact } from '../artifacts/catalog.js'
import { ARTIFACT_NAMES, artifactKey, type ArtifactName, type ArtifactNeed, type Catalog, type PlannedArtifact } from '../artifacts/types.js'
import { PIPELINES } from '../modules/index.js'
import type { ModuleDefinition } from '../modules/module.js'
import { kubeadmImages, type KubeadmImages } from '../modules/runtime-images.js'
import { neverReleased } from './releases.js'
import { checkVersionRequirements } from './requirements.js'
import type { ModuleId, Plan, PlanContext, PlannedModule, PlanOptions, PlanResult, PipelineName } from './types.js'

const KUBERNETES_BINARIES: readonly ArtifactName[] = ['kubeadm', 'kubelet', 'kubectl']

/** Decides, before any machine is touched, what runs, where, and with which verified artifacts. */
export async function buildPlan(
  config: ClusterConfig,
  options: PlanOptions & { locate?: (field: string) => { line: number; column: number } | undefined } = {},
): Promise<PlanResult> {
  const pipeline = options.pipeline ?? 'create'
  const catalog = options.catalog ?? builtinCatalog
  const notices: string[] = []
  const ctx = planContext(config, pipeline, catalog, notices)
  if (pipeline === 'create') checkVersionRequirements(config, ctx.versions, ctx.versionFields, options.locate)
  const modules = PIPELINES[pipeline]
  const flagReasons = reasonsFromFlags(modules, options)

  const planned: PlannedModule[] = modules.map((module) => planModule(module, ctx, flagReasons.get(module.id)))
  const artifacts = await resolveNeeds(planned, ctx, catalog, options, notices)
  return {
    notices,
    plan: {
      pipeline,
      kubernetesVersion: config.kubernetes.version,
      containerManager: config.kubernetes.containerManager,
      hosts: config.hosts.map(({ name, address, arch, roles }) => ({ name, address, arch, roles })),
      modules: planned,
      artifacts,
      images: ctx.images,
    },
  }
}

function planContext(config: ClusterConfig, pipeline: PipelineName, catalog: Catalog, notices: string[]): PlanContext {
  const { versions, versionFields } = chooseVersions(config, catalog, notices)
  return contextFor(config, pipeline, versions, versionFields, kubeadmImages(config, versions.etcd))
}

/** The same context the plan was made with, rebuilt from the plan (for the pipeline's task lists). */
export function buildPlanContext(config: ClusterConfig, plan: Plan): PlanContext {
  const versions = {} as Record<ArtifactName, string>
  for (const need of plan.modules.flatMap((m) => m.needs)) versions[need.name] = need.version
  return contextFor(config, plan.pipeline, versions, {} as Record<ArtifactName, string>, plan.images)
}

function contextFor(
  config: ClusterConfig, pipeline: PipelineName,
  versions: Record<ArtifactName, string>, versionFields: Record<ArtifactName, string>, images: KubeadmImages,
): PlanContext {
  const byName = new Map(config.hosts.map((host) => [host.name, host]))
  const hostsWithRole = (...roles: Role[]): Host[] =>
    config.hosts.filter((host) => roles.some((role) => host.roles.includes(role)))
  const firstName = config.roleGroups['control-plane'][0]
  return { config, pipeline, versions, versionFields, hostsWithRole, firstControlPlane: byName.get(firstName)!, images }
}

function chooseVersions(config: ClusterConfig, catalog: Catalog, notices: string[]) {
  const kubernetes = config.kubernetes.version
  const defaults = componentDefaults(catalog, kubernetes)
  const unreleased = neverReleased(kubernetes)
  if (unreleased) notices.push(`Kubernetes ${unreleased}; its binaries can only come from a checksums file or a mirror that has them.`)
  if (!defaults.exact) {
    notices.push(`kk-action has no default component versions for Kubernetes ${kubernetes}; using those of ${defaults.minor}. ` +
      'Set spec.componentVersions to choose others.')
  }
  const versions = {} as Record<ArtifactName, string>
  const versionFields = {} as Record<ArtifactName, string>
  for (const name of ARTIFACT_NAMES) {
    if (KUBERNETES_BINARIES.includes(name)) {
      versions[name] = kubernetes
      versionFields[name] = 'spec.kubernetes.version'
    } else if (config.componentVersions[name]) {
      versions[name] = config.componentVersions[name].replace(/^v/, '')
      versionFields[name] = `spec.componentVersions.${name}`
    } else {
      versions[name] = defaults.versions[name] ?? ''
      versionFields[name] = `spec.kubernetes.version (the default ${name} for Kubernetes ${defaults.minor})`
    }
  }
  // calicoctl and the calico chart come from one Calico release: pinning either pins both.
  for (const [given, follower] of [['calico', 'calicoctl'], ['calicoctl', 'calico']] as const) {
    if (config.componentVersions[given] && !config.componentVersions[follower]) {
      versions[follower] = versions[given]
      versionFields[follower] = versionFields[given]
    }
  }
  return { versions, versionFields }
}

function reasonsFromFlags(modules: readonly ModuleDefinition[], options: PlanOptions): Map<ModuleId, string> {
  const ids = modules.map((module) => module.id)
  const reasons = new Map<ModuleId, string>()
  for (const id of [...(options.skipModules ?? []), ...(options.until ? [options.until] : [])]) {
    if (!(ids as string[]).includes(id)) {
      throw new UserError(`unknown module "${id}"`, {}, `Modules of this pipeline: ${ids.join(', ')}`)
    }
  }
  for (const id of options.skipModules ?? []) reasons.set(id as ModuleId, 'skipped by --skip')
  if (options.until) {
    for (const id of ids.slice(ids.indexOf(options.until as ModuleId) + 1)) {
      if (!reasons.has(id)) reasons.set(id, `after --until ${options.until}`)
    }
  }
  return reasons
}

function planModule(module: ModuleDefinition, ctx: PlanContext, flagReason: string | undefined): PlannedModule {
  const reason = flagReason ?? module.skip(ctx)
  const hosts = module.hosts(ctx)
  const arches = [...new Set(hosts.map((host) => host.arch))]
  const needs: ArtifactNeed[] = module.needs(ctx).flatMap((name) =>
    arches.map((arch) => ({ name, version: ctx.versions[name], arch })))
  return {
    id: module.id,
    skip: reason !== undefined,
    ...(reason !== undefined ? { reason } : {}),
    hosts: hosts.map((host) => host.name),
    needs,
  }
}

/** The union of the needs of the modules that run, each matched with its URL and sha256. */
async function resolveNeeds(
  modules: PlannedModule[], ctx: PlanContext, catalog: Catalog,
  options: PlanOptions & { locate?: (field: string) => { line: number; column: number } | undefined },
  notices: string[],
): Promise<PlannedArtifact[]> {
  const wanted = new Map<string, { need: ArtifactNeed; module: ModuleId }>()
  for (const module of modules.filter((m) => !m.skip)) {
    for (const need of module.needs) if (!wanted.has(artifactKey(need))) wanted.set(artifactKey(need), { need, module: module.id })
  }
  const artifacts: PlannedArtifact[] = []
  for (const { need, module } of wanted.values()) {
    artifacts.push(await matchArtifact(need, module, ctx, catalog, options, notices))
  }
  return artifacts
}

async function matchArtifact(
  need: ArtifactNeed, module: ModuleId, ctx: PlanContext, catalog: Catalog,
  options: PlanOptions & { locate?: (field: string) => { line: number; column: number } | undefined },
  notices: string[],
): Promise<PlannedArtifact> {
  const { name, version, arch } = need
  const known = knownSha256(catalog, name, version, arch)
  if (known) return plannedArtifact(catalog, name, version, arch, known, catalog.userSums?.has(artifactKey(need)) ? 'checksums-file' : 'catalog')
  if (KUBERNETES_BINARIES.includes(name) && options.fetchSha256) {
    const candidate = plannedArtifact(catalog, name, version, arch, '', 'upstream')
    const sum = await options.fetchSha256(candidate)
    if (sum) {
      notices.push(`${name} ${version} ${arch} is not in kk-action's catalog; using the sha256 published at ${candidate.url}.sha256`)
      return { ...candidate, sha256: sum }
    }
  }
  const index = catalog.artifacts[name].index
  const found = index && options.fetchChartDigest ? await options.fetchChartDigest(index, version) : undefined
  if (found?.sha256) {
    notices.push(`${name} ${version} is not in kk-action's catalog; using the chart's digest in ${found.url}` +
      (found.url === index?.url ? '' : ` (${index?.url} could not be read: the chart and its sum both come from your mirror)`))
    const planned = plannedArtifact(catalog, name, version, arch, found.sha256, 'chart-index')
    return found.chartUrl ? withUrl(planned, found.chartUrl) : planned
  }
  if (index && found && !found.reached && options.deferUnreachableChartSums) {
    notices.push(`${name} ${version}: ${index.url} cannot be reached from here, so its sha256 is left for deploy and fetch to read ` +
      '(or give it in a checksums file)')
    return plannedArtifact(catalog, name, version, arch, '', 'chart-index')
  }
  const field = ctx.versionFields[name]
  const position = options.locate?.(field.split(' ')[0])
  const unreleased = KUBERNETES_BINARIES.includes(name) ? neverReleased(version) : undefined
  if (unreleased) {
    throw new UserError(`module ${module} needs ${name} ${unreleased}`, { file: ctx.config.file, line: position?.line, column: position?.column, field },
      'Choose a released version, or give its sum in a checksums file (the `checksums` input / --checksums) if you built it yourself')
  }
  throw new UserError(
    `module ${module} needs ${name} ${version || '(no version)'} for ${arch}, and kk-action knows no sha256 for it`,
    { file: ctx.config.file, line: position?.line, column: position?.column, field },
    index
      ? `kk-action reads a chart's sha256 from ${index.url} (or the same path on your mirror), but ${!found ? 'no index was read' : found.reached ? `${found.url} lists no ${index.chart} ${version}` : 'neither could be reached'}. ` +
        `${found?.reached ? 'Choose a version that index lists' : 'Serve the index on your mirror'}, or give the sum in a checksums file (the \`checksums\` input / --checksums)`
      : 'Choose a version the catalog has, or give its sum in a checksums file (the `checksums` input / --checksums)',
  )
}

/** The artifact at another upstream URL (a chart index names the file its digest is of). */
function withUrl(artifact: PlannedArtifact, url: string): PlannedArtifact {
  const path = new URL(url).pathname
  return { ...artifact, url, path, file: path.slice(path.lastIndexOf('/') + 1) }
}
