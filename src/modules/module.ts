import type { Host } from '../config/types.js'
import type { ArtifactName } from '../artifacts/types.js'
import type { ModuleId, PlanContext } from '../plan/types.js'
import type { Task } from '../pipeline/types.js'

/**
 * A pipeline module. Read it top to bottom: which hosts, why it would not run, what it needs, what it does.
 * `skip` is a required function of the config, so no module can run by forgetting to declare it
 * (KubeKey's cri-dockerd bug: a shadowed Skip field that was always false).
 */
export interface ModuleDefinition {
  id: ModuleId
  /** The hosts it acts on. */
  hosts(ctx: PlanContext): Host[]
  /** Why it does not run for this config (naming the deciding field and value), or undefined. */
  skip(ctx: PlanContext): string | undefined
  /** Artifacts it reads; versions come from the plan, one per arch of its hosts. */
  needs(ctx: PlanContext): ArtifactName[]
  /** Its steps; only called for modules that run. Absent while a module is not implemented yet. */
  tasks?(ctx: PlanContext): Task[]
}

export function defineModule(definition: ModuleDefinition): ModuleDefinition {
  return definition
}

/** Hosts that run Kubernetes (control plane or worker). */
export function kubernetesNodes(ctx: PlanContext): Host[] {
  return ctx.hostsWithRole('control-plane', 'worker')
}

export const nothingNeeded = (): ArtifactName[] => []
export const alwaysRuns = (): undefined => undefined
